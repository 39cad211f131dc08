package bitnobi

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Data-source kinds.
const (
	DataSourceFile = "file" // an uploaded CSV or JSON file (the Importer element reads it)
	DataSourceSQL  = "sql"  // a connection to an external SQL database
)

// File formats of uploaded data sources.
const (
	FormatCSV  = "csv"  // comma-separated, with a header line
	FormatJSON = "json" // an array of objects
)

// SQL drivers a SQL data source may name.
var SQLDrivers = []string{"postgres", "mysql", "sqlserver"}

// DataSource is a data set a workflow can read: an uploaded file (Kind
// [DataSourceFile]), immutable once uploaded and stored in the blob store,
// or the definition of a query on an external SQL database (Kind
// [DataSourceSQL]), whose password is a sealed secret that no API returns.
//
// A data source is visible to its owner and to the administrator only;
// other users reach the data through the results of workflows shared with
// them by a policy.
type DataSource struct {
	ID          string `json:"id"`
	OwnerID     string `json:"owner_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Kind        string `json:"kind"` // "file" or "sql"

	// File data sources.
	Format   string `json:"format,omitempty"`   // "csv" or "json"
	Filename string `json:"filename,omitempty"` // as uploaded
	BlobID   string `json:"blob_id,omitempty"`  // SHA-256 of the content
	Size     int64  `json:"size"`               // bytes

	// SQL data sources.
	Driver      string `json:"driver,omitempty"` // one of SQLDrivers
	Host        string `json:"host,omitempty"`
	Port        int    `json:"port,omitempty"`
	Database    string `json:"database,omitempty"`
	User        string `json:"user,omitempty"`
	Query       string `json:"query,omitempty"`
	PasswordSet bool   `json:"password_set"` // whether a password is stored

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DataSourceUpdate holds the fields an update may change; nil means
// unchanged. The SQL fields and Password apply to SQL data sources only; an
// empty Password removes the stored one. A file's content never changes:
// upload a new data source instead.
type DataSourceUpdate struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Driver      *string `json:"driver"`
	Host        *string `json:"host"`
	Port        *int    `json:"port"`
	Database    *string `json:"database"`
	User        *string `json:"user"`
	Query       *string `json:"query"`
	Password    *string `json:"password"`
}

// DataSourceService manages data sources. The actor comes from the context.
// Data sources the actor may not see (not theirs, unless the actor is the
// administrator) are reported as ENOTFOUND, so their existence does not leak.
type DataSourceService interface {
	// CreateFileDataSource stores the content read from r as a new file
	// data source owned by the actor. ds supplies Name, Description,
	// Format and Filename; the service fills in the rest. The content is
	// streamed to the blob store, never held in memory; at most limit
	// bytes are accepted (limit <= 0: no limit). An error from r is
	// returned wrapped, so a reader that fails with an [*Error] keeps its
	// code. Errors: EINVALID (name, format), ETOOLARGE.
	CreateFileDataSource(ctx context.Context, ds *DataSource, r io.Reader, limit int64) error
	// CreateSQLDataSource stores a SQL data source owned by the actor,
	// sealing password (if not empty) as a secret. Errors: EINVALID.
	CreateSQLDataSource(ctx context.Context, ds *DataSource, password string) error
	// FindDataSources lists the actor's data sources (all of them, for the
	// administrator), oldest first.
	FindDataSources(ctx context.Context) ([]*DataSource, error)
	// FindDataSourceByID returns a data source. Errors: ENOTFOUND.
	FindDataSourceByID(ctx context.Context, id string) (*DataSource, error)
	// OpenDataSource opens a file data source's content for reading; the
	// caller closes it. Every successful open is audited as
	// [ActionDataSourceAccess] with the actor's remote host and user.
	// Errors: ENOTFOUND, EUNSUPPORTED (a SQL data source, which a workflow
	// reads with a SQL element instead).
	OpenDataSource(ctx context.Context, id string) (io.ReadCloser, *DataSource, error)
	// UpdateDataSource changes a data source. Errors: EINVALID, ENOTFOUND.
	UpdateDataSource(ctx context.Context, id string, upd DataSourceUpdate) (*DataSource, error)
	// DeleteDataSource removes a data source and its password. The file
	// content stays in the blob store until the garbage collector finds
	// it unreferenced. Errors: ENOTFOUND.
	DeleteDataSource(ctx context.Context, id string) error
}

// Limits on the text fields of data sources, workflows and reports.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 4000
	MaxQueryLen       = 100000
)

// Validate checks the fields a user sets. It returns an EINVALID error
// naming the first bad field.
func (ds *DataSource) Validate() error {
	if err := validateName(ds.Name); err != nil {
		return err
	}
	if err := validateDescription(ds.Description); err != nil {
		return err
	}
	switch ds.Kind {
	case DataSourceFile:
		if ds.Format != FormatCSV && ds.Format != FormatJSON {
			return Invalidf("format", "Format must be %q or %q.", FormatCSV, FormatJSON)
		}
		if len(ds.Filename) > MaxNameLen {
			return Invalidf("filename", "File name must be at most %d bytes.", MaxNameLen)
		}
	case DataSourceSQL:
		if !slices.Contains(SQLDrivers, ds.Driver) {
			return Invalidf("driver", "Driver must be one of %s.", strings.Join(SQLDrivers, ", "))
		}
		if strings.TrimSpace(ds.Host) == "" || len(ds.Host) > 255 {
			return Invalidf("host", "Host is required (at most 255 bytes).")
		}
		if ds.Port < 1 || ds.Port > 65535 {
			return Invalidf("port", "Port must be between 1 and 65535.")
		}
		if strings.TrimSpace(ds.Database) == "" || len(ds.Database) > MaxNameLen {
			return Invalidf("database", "Database is required (at most %d bytes).", MaxNameLen)
		}
		if len(ds.User) > MaxNameLen {
			return Invalidf("user", "User must be at most %d bytes.", MaxNameLen)
		}
		if strings.TrimSpace(ds.Query) == "" || len(ds.Query) > MaxQueryLen {
			return Invalidf("query", "Query is required (at most %d bytes).", MaxQueryLen)
		}
	default:
		return Invalidf("kind", "Kind must be %q or %q.", DataSourceFile, DataSourceSQL)
	}
	return nil
}

func validateName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Invalidf("name", "Name is required.")
	}
	if len(name) > MaxNameLen {
		return Invalidf("name", "Name must be at most %d bytes.", MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return Invalidf("name", "Name must be valid UTF-8.")
	}
	return nil
}

func validateDescription(d string) error {
	if len(d) > MaxDescriptionLen {
		return Invalidf("description", "Description must be at most %d bytes.", MaxDescriptionLen)
	}
	if !utf8.ValidString(d) {
		return Invalidf("description", "Description must be valid UTF-8.")
	}
	return nil
}

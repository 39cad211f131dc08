package bitnobi

// Limits of a [Preview].
const (
	// DefaultPreviewRows is how many rows a preview shows when the request
	// does not say.
	DefaultPreviewRows = 20
	// MaxPreviewRows is the most rows a preview shows.
	MaxPreviewRows = 500
	// MaxPreviewColumns is the most columns a preview shows; the others
	// are counted in [Preview.ColumnsTotal].
	MaxPreviewColumns = 100
)

// PreviewRequest asks for the first rows after one element of a workflow
// graph (the original's "Apply").
type PreviewRequest struct {
	// WorkflowID is the saved workflow the preview is of, or "" for a
	// graph not saved yet, which is previewed as the actor's own.
	WorkflowID string
	// Graph is the graph to preview; nil means the saved graph of
	// WorkflowID. Only the elements ElementID depends on need to be
	// complete.
	Graph *Graph
	// ElementID is the element whose output is shown.
	ElementID string
	// Rows is how many rows to show: 0 means [DefaultPreviewRows]; at
	// most [MaxPreviewRows].
	Rows int
}

// Preview is the start of what one element of a graph outputs. A preview
// stores nothing: no run, no result.
type Preview struct {
	ElementID string `json:"element_id"`
	// Columns are the element's first [MaxPreviewColumns] columns.
	Columns []string `json:"columns"`
	// ColumnsTotal counts all of its columns.
	ColumnsTotal int `json:"columns_total"`
	// Rows are its first rows, each with one value per column of Columns.
	Rows [][]any `json:"rows"`
	// More says that more rows follow.
	More bool `json:"more"`
	// Error says why the element could not be evaluated (bad data, an
	// element this version does not run, an input that may not be read,
	// the time limit); Columns and Rows are then empty.
	Error string `json:"error,omitempty"`
}

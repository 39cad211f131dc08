package bitnobi

// DataSourceService manages uploaded files and SQL data-source definitions.
// PLACEHOLDER: the content helper fills this in.
type DataSourceService interface{}

// WorkflowService manages workflows. PLACEHOLDER.
type WorkflowService interface{}

// ReportService manages reports. PLACEHOLDER.
type ReportService interface{}

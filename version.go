package bitnobi

// VersionInfo is what GET /api/version and `bitnobi version` report.
type VersionInfo struct {
	AppVersion    string `json:"app_version"`
	SchemaVersion int    `json:"schema_version"` // the database's
	LatestSchema  int    `json:"latest_schema"`  // the binary's
	Engine        string `json:"engine"`
	InstanceID    string `json:"instance_id,omitempty"`
	BackupFormat  int    `json:"backup_format"`
}

package bitnobi

// RemoteServerService manages federation peers. PLACEHOLDER: the accounts helper fills this in.
type RemoteServerService interface{}

// SettingsService manages e-mail settings. PLACEHOLDER.
type SettingsService interface{}

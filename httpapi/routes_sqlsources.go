package httpapi

import (
	"net/http"

	"github.com/bitnobi/bitnobi"
)

// registerSQLSourceRoutes registers the switch of SQL data sources: off in
// a copy restored with --as-copy until an administrator turns them on.
// docs/api.md documents them.
func (s *Server) registerSQLSourceRoutes() {
	s.handle("GET /api/settings/sql-sources", true, s.handleGetSQLSourceSettings)
	s.handle("PUT /api/settings/sql-sources", true, s.handleUpdateSQLSourceSettings)
}

// sqlSourceSettings is the Settings service's optional SQL data source
// capability.
func (s *Server) sqlSourceSettings() (bitnobi.SQLSourceSettingsService, error) {
	ss, ok := s.Settings.(bitnobi.SQLSourceSettingsService)
	if !ok {
		return nil, bitnobi.Errorf(bitnobi.EUNSUPPORTED, "This server has no SQL data source settings.")
	}
	return ss, nil
}

func (s *Server) handleGetSQLSourceSettings(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sqlSourceSettings()
	if err != nil {
		return err
	}
	ss, err := svc.GetSQLSourceSettings(r.Context())
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, ss)
	return nil
}

func (s *Server) handleUpdateSQLSourceSettings(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sqlSourceSettings()
	if err != nil {
		return err
	}
	var upd bitnobi.SQLSourceSettings
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	ss, err := svc.UpdateSQLSourceSettings(r.Context(), upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, ss)
	return nil
}

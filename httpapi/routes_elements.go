package httpapi

import (
	"net/http"

	"github.com/bitnobi/bitnobi"
)

// registerElementRoutes registers the settings of workflow elements:
// whether Python elements run, and their limits. docs/api.md documents
// them.
func (s *Server) registerElementRoutes() {
	s.handle("GET /api/settings/python", true, s.handleGetPythonSettings)
	s.handle("PUT /api/settings/python", true, s.handleUpdatePythonSettings)
}

// pythonSettings is the Settings service's optional Python capability.
func (s *Server) pythonSettings() (bitnobi.PythonSettingsService, error) {
	ps, ok := s.Settings.(bitnobi.PythonSettingsService)
	if !ok {
		return nil, bitnobi.Errorf(bitnobi.EUNSUPPORTED, "This server has no Python settings.")
	}
	return ps, nil
}

func (s *Server) handleGetPythonSettings(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.pythonSettings()
	if err != nil {
		return err
	}
	ps, err := svc.GetPythonSettings(r.Context())
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, ps)
	return nil
}

func (s *Server) handleUpdatePythonSettings(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.pythonSettings()
	if err != nil {
		return err
	}
	var upd bitnobi.PythonSettings
	if err := s.Decode(w, r, &upd); err != nil {
		return err
	}
	ps, err := svc.UpdatePythonSettings(r.Context(), upd)
	if err != nil {
		return err
	}
	s.JSON(w, http.StatusOK, ps)
	return nil
}

package web

import (
	"net/http"
	"runtime"

	"github.com/bitnobi/bitnobi"
)

// aboutView is the data of the About page.
type aboutView struct {
	Version   bitnobi.VersionInfo
	GoVersion string
}

func (s *Server) aboutPage(w http.ResponseWriter, r *http.Request, v *view) error {
	v.Title, v.Section = "About this instance", "admin"
	if s.Version == nil {
		return bitnobi.Errorf(bitnobi.EUNSUPPORTED, "This server does not report its version.")
	}
	vi, err := s.Version(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "about", v, aboutView{Version: vi, GoVersion: runtime.Version()})
	return nil
}

package httpapi

// registerContentRoutes registers data-source, workflow and report routes.
// PLACEHOLDER.
func (s *Server) registerContentRoutes() {}

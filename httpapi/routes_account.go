package httpapi

// registerAccountRoutes registers sign-up/in/out, me, users, policies,
// remote servers, settings and audit routes. PLACEHOLDER.
func (s *Server) registerAccountRoutes() {}

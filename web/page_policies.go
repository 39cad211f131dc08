package web

func (s *Server) registerPolicyPages() {}

package web

func (s *Server) registerAdminPages() {}

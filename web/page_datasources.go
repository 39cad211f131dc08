package web

func (s *Server) registerDataSourcePages() {}

package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDoc is the OpenAPI 3.1 document of every route of the server
// (api/openapi.json). TestOpenAPIRoutes keeps it and the router in step.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves the OpenAPI document. It is public and audited like every
// /api/v1 request.
func (s *Server) openAPI(c *gin.Context, k *call) error {
	return k.text(http.StatusOK, "application/json", openAPIDoc)
}

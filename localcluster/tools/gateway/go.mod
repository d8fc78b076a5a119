// Pins only, never built as a module: the Gateway API CRDs (standard channel) that every
// local cluster serves, read from the gateway-api module's own source, and the Gateway
// API implementation of the real node, built from a copy of Traefik's own module tree
// (as a dependency of this module its replace directives would be lost). Both are
// fetched with `go mod download -json MODULE@VERSION`; see localcluster/gatewayapi.py
// and localcluster/realnode/traefik.py.
module devenv-operator/localcluster/tools/gateway

go 1.26.0

require (
	github.com/traefik/traefik/v3 v3.6.12
	sigs.k8s.io/gateway-api v1.6.3
)

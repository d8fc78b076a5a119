// Pins only, never built as a module: the Gateway API CRDs (standard channel) that every
// local cluster serves, read from the gateway-api module's own source with
// `go mod download -json MODULE@VERSION`; see localcluster/gatewayapi.py.
module devenv-operator/localcluster/tools/gateway

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3

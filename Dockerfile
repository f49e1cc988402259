# vigil and fleetsim in one small image.
#   docker build -t vigil .
#   docker run --rm -v $PWD/vigil.yaml:/etc/vigil/vigil.yaml vigil
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /out/vigil ./cmd/vigil \
 && go build -trimpath -ldflags="-s -w" -o /out/fleetsim ./cmd/fleetsim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /out/fleetsim /usr/local/bin/
COPY examples/compose/vigil.yaml /etc/vigil/vigil.yaml
USER nonroot:nonroot
EXPOSE 8080 18000
CMD ["/usr/local/bin/vigil", "serve", "-config", "/etc/vigil/vigil.yaml"]

# azdetect: build and publish to Azure. Included from the Makefile.
#
#   make deploy LOCATION=westeurope            # az deployment sub create (infra/main.bicep)
#   make publish APP=<functionAppName output>  # build linux/amd64, func azure functionapp publish
#   make subscribe-archive LOCATION=westeurope # second deployment: Event Grid -> the blob functions
#   make publish-premium APP=... RG=... STORAGE=...  # hostingPlan=premium without Core Tools
#
# PUBLISH_BIN must match customHandler.description.defaultExecutablePath in
# host.json; infra/infra_test.go checks that they agree.

GO          ?= go
FUNC        ?= func
AZ          ?= az
APP         ?=
RG          ?= rg-azdetect
LOCATION    ?=
STORAGE     ?=
PARAMS      ?= infra/main.parameters.json
PUBLISH_BIN ?= azdetect
PACKAGE_ZIP ?= bin/azdetect-package.zip

.PHONY: publish publish-build publish-premium deploy subscribe-archive

## publish-build: the static linux/amd64 handler binary the Functions host starts
publish-build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(PUBLISH_BIN) ./handler

## publish: build, then publish the app (host.json, functions/, the binary; .funcignore keeps the rest out)
publish: publish-build
	@test -n "$(APP)" || { echo "publish: set APP=<function app name> (deployment output functionAppName)"; exit 2; }
	$(FUNC) azure functionapp publish $(APP) --custom

## deploy: the whole system and its subscription-scope feeds (infra/README.md)
deploy:
	@test -n "$(LOCATION)" || { echo "deploy: set LOCATION=<region>"; exit 2; }
	$(AZ) deployment sub create --name azdetect --location $(LOCATION) \
	  --template-file infra/main.bicep --parameters @$(PARAMS)

## subscribe-archive: after the first publish, route archive blob events to the blob functions (one per container)
subscribe-archive:
	@test -n "$(LOCATION)" || { echo "subscribe-archive: set LOCATION=<region>"; exit 2; }
	$(AZ) deployment sub create --name azdetect --location $(LOCATION) \
	  --template-file infra/main.bicep --parameters @$(PARAMS) --parameters subscribeArchiveEvents=true

## publish-premium: Elastic Premium runs the package from blob storage with the
## managed identity (WEBSITE_RUN_FROM_PACKAGE); upload it with your Entra login
## (you need Storage Blob Data Contributor on the account) and restart.
publish-premium: publish-build
	@test -n "$(APP)" -a -n "$(STORAGE)" || { echo "publish-premium: set APP=... STORAGE=... (deployment outputs)"; exit 2; }
	@mkdir -p $(dir $(PACKAGE_ZIP))
	rm -f $(PACKAGE_ZIP)
	zip -q -r $(PACKAGE_ZIP) $(PUBLISH_BIN) host.json functions -x '*.go'
	$(AZ) storage blob upload --auth-mode login --account-name $(STORAGE) \
	  --container-name app-package --name azdetect.zip --file $(PACKAGE_ZIP) --overwrite
	$(AZ) functionapp restart --name $(APP) --resource-group $(RG)

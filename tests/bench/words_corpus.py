"""Chat-ops sentences with no personal data that name real tools, services, products and places.

Every word of such a sentence must survive scrubbing: a tool's or a city's name replaced by
`<PERSON_1>` is a fact the bot can no longer learn. Many names share a word with a first name
(Jasper, Hermes, Victoria, Phoenix, Mercury, Ruby, Julia, Hugo, Kendra, Luigi...).

The corpus has seven parts with disjoint names and templates: *tune* and *dev*, on which the
scrubber's rules were developed (dev was first meant to be the check part, but its misses were read
while the rules changed, so it no longer is); *dev2*, the check part until 2026-12-05 (reported at
0.967 unchanged, then its misses were read and the rules changed again, so it is a dev part now);
*dev3*, written on 2026-12-06 for the study of names that are also first names (Marvin, Nancy,
Irving, Helena) and "X said" from tools, whose misses were read; *dev4*, written on 2026-12-06 in
a loose chat style ("any reason we still pay for Stella?"), whose misses were read; *dev5*, written
on 2026-12-07, tools spoken of as people ("blame Knex, it cached the old config"), whose misses were
read; and *check*, written on 2026-12-05 before the 2026-12-05 change and only reported. `mixed`
puts real people's names (planted, from Faker) beside tool names from tune and dev: the people must
go, the tools must stay.

The names were written by hand for this corpus, not drawn from the scrubber's vocabulary file, so
the parts also measure names the vocabulary does not hold.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from tests.bench.privacy_corpus import Message, Planted, _Maker

# Tools and services first, then places (from Berlin / Montevideo on); _ joins a name of two words.
_TUNE_NAMES = """
Grafana Prometheus Jira Confluence Django Flask FastAPI Envoy Istio Linkerd Kubernetes Helm Terraform
Pulumi Ansible Chef Puppet Vagrant Packer Consul Vault Nomad Jenkins CircleCI Buildkite Bazel Gradle
Maven Webpack Vite Babel ESLint Prettier Jest Mocha Cypress Playwright Selenium Postman Sentry Datadog
Honeycomb Splunk Kibana Elasticsearch Logstash Fluentd Loki Tempo Jaeger Zipkin OpenTelemetry Kafka
RabbitMQ Redis Memcached PostgreSQL MySQL MariaDB MongoDB Cassandra CockroachDB ClickHouse Snowflake
BigQuery Redshift Airflow Dagster Prefect Spark Flink Hadoop Trino Looker Tableau Metabase Superset
Nginx HAProxy Traefik Caddy Tomcat Gunicorn Celery Sidekiq Rails Laravel Symfony Spring Quarkus Express
NestJS Svelte React Angular Vue Ember Redux GraphQL Apollo Hasura Prisma SQLAlchemy Alembic Flyway
Liquibase Docker Podman Spinnaker Tekton GitLab GitHub Bitbucket Gerrit SonarQube Snyk Dependabot
Renovate Trivy Falco Okta Auth0 Keycloak Cloudflare Fastly Akamai Netlify Vercel Heroku DigitalOcean
Hetzner New_Relic Argo_CD Cloud_Run Delta_Lake Lambda DynamoDB Kinesis CloudWatch CloudFront Fargate
Azure Firebase Supabase Stripe Twilio
SendGrid Mailgun PagerDuty Opsgenie Statuspage Zoom Notion Asana Trello Figma Miro Zendesk Intercom
Salesforce HubSpot Segment Amplitude Mixpanel LaunchDarkly Optimizely Jasper Hermes Victoria Phoenix
Mercury Ruby Julia Hugo Harbor Argo Thanos Athena Aurora Neptune Jasmine Karma Sinon Rollup Deno Jekyll
Ghost Strapi Bottle Pyramid Tornado Falcon Sanic Pandas Polars Arrow Parquet Avro Kotlin Jetty Lucene
Solr Pulsar Zookeeper Iceberg Druid Pinot Beam Storm Crystal Amber Puma Unicorn Capistrano Boundary
Sentinel Ubuntu Debian Alpine Fedora
Berlin London Paris Tokyo Lisbon Madrid Barcelona Dublin Amsterdam Rotterdam Brussels Zurich Geneva
Vienna Prague Warsaw Budapest Bucharest Athens Istanbul Cairo Nairobi Lagos Johannesburg Dubai Mumbai
Bangalore Hyderabad Chennai Singapore Jakarta Manila Seoul Sydney Melbourne Auckland Toronto Montreal
Vancouver Austin Denver Seattle Portland Chicago Boston Atlanta Miami Dallas Houston Florence Adelaide
Charlotte Madison Savannah Georgia Virginia Frankfurt Munich Hamburg Oslo Stockholm Helsinki Copenhagen
Tallinn Riga Vilnius Kyiv Lyon Marseille Milan Naples Turin Porto Valencia Seville Edinburgh Glasgow
Manchester Leeds Bristol Cardiff Belfast Cork Galway Oregon Ohio Ireland Germany Japan Brazil India
Canada Australia Kenya Nigeria Poland Spain Portugal Norway Sweden Finland Estonia Ukraine Romania
Greece Israel Morocco Vietnam Thailand Malaysia Indonesia Chile Argentina Colombia Mexico Texas
California Bavaria Catalonia Scotland Wales
""".split()

_DEV_NAMES = """
Luigi Kendra Passenger Mimir Cortex Marathon Lerna Turborepo Storybook Tailwind Bootstrap Sass Gatsby
Nuxt Remix Astro Qwik Solid Preact Alpine.js Htmx Stimulus Turbo Hotwire Phoenix.LiveView Elixir Erlang
Haskell Clojure Scala Swift Dart Flutter Electron Tauri Bun Yarn Poetry Conda Homebrew Chocolatey Nix
Xcode Android Gitea Drone Woodpecker Concourse Harness Octopus Rundeck StackStorm Nagios Zabbix Icinga
Checkmk Graylog Vector Telegraf InfluxDB TimescaleDB QuestDB VictoriaMetrics Netdata Uptime_Kuma Pingdom
Sumo_Logic Coralogix Rollbar Bugsnag Raygun Instana Dynatrace AppDynamics Lightstep Tyk Kong Apigee
Gravitee KrakenD Varnish Squid Pound Envoy_Gateway Contour Emissary Ambassador Cilium Calico Flannel
Weave MetalLB Longhorn Rook Ceph MinIO Velero Restic Borg Duplicati Bacula Teleport Tailscale WireGuard
OpenVPN Pritunl Zitadel Authentik Authelia Dex Casbin OpenFGA Ory Hydra Kratos Cerbos Rego Gatekeeper
Kyverno Crossplane Backstage Port Sidecar Linear Shortcut Height ClickUp Basecamp Coda Airtable
Retool Appsmith Budibase Zapier Pipedream Temporal Cadence Conductor Camunda Zeebe Hermes.js Jasper_Reports
Mercury.js Otto Quill Ivy Camel Ignite Geode Kylin Hudi Samza Heron Apex Sqoop Oozie Ambari Nutch Tika
Mahout Zeppelin Jupyter Colab Databricks Fivetran Airbyte Stitch Hightouch Census Rudderstack Snowplow
Matomo Plausible Umami PostHog Heap Pendo FullStory Hotjar Sprig Canny Productboard Aha Ava Sidekiq.io
Jasper_Reports_Server
Montevideo Asuncion Quito Caracas Havana Kingston Panama Guatemala Managua Tegucigalpa Recife Fortaleza
Curitiba Manaus Belem Medellin Cali Cartagena Arequipa Cusco Valparaiso Mendoza Rosario Cordoba Bilbao
Malaga Granada Zaragoza Alicante Bologna Genoa Verona Palermo Catania Trieste Ljubljana Zagreb Split
Belgrade Sarajevo Skopje Tirana Podgorica Chisinau Minsk Tbilisi Yerevan Baku Almaty Tashkent Bishkek
Ulaanbaatar Kathmandu Dhaka Colombo Karachi Lahore Kabul Tehran Baghdad Amman Beirut Doha Muscat Riyadh
Jeddah Kuwait Manama Khartoum Addis_Ababa Kampala Kigali Dodoma Lusaka Harare Gaborone Windhoek Maputo
Luanda Kinshasa Accra Dakar Bamako Abuja Ibadan Kano Tunis Algiers Tripoli Rabat Marrakesh Casablanca
Dakota Cheyenne Regina Augusta Eugene Tyler Lafayette Chelsea Camden Brooklyn Queens Harlem Boulder
Raleigh Durham Tucson Albuquerque Omaha Tulsa Wichita Boise Spokane Tacoma Fresno Sacramento Oakland
""".split()

_TUNE_TEMPLATES = [
    "{tool} dashboard Payments Overview shows p99 latency at {n3}ms since the {version} release.",
    "Merge PR #{n4} after {tool} ticket OPS-{n4} is approved by the change board.",
    "We pin Python 3.11 and {tool} {version} in the base image.",
    "The billing service listens on port {port} behind the {tool} sidecar.",
    "{tool} alerts fire when the checkout error rate passes {n1}% for five minutes.",
    "The {place} office switched from {tool} to {tool} last quarter.",
    "Our on-call rota lives in {tool}, and escalations page through {tool}.",
    "Restart {tool} on web-{n1} if the queue backs up again.",
    "Builds run on {tool} and artifacts go to {tool} in {place}.",
    "the staging cluster in {place} runs {tool} {version} with {tool} for ingress",
    "{tool} is down in {place}; failover to {place} is in progress.",
    "Use {tool} for feature flags, not {tool}.",
    "We migrated logs from {tool} to {tool} to cut costs by {n2}%.",
    "is {tool} still the source of truth for the {place} inventory?",
    "{tool} upgrade to {version} is scheduled for Thursday at 14:00 UTC.",
    "The {tool} exporter scrapes every {n2} seconds.",
    "Customer data for {place} stays in the {place} region.",
    "Did anyone bump {tool} after the CVE? the scanner still flags it.",
    "{tool} and {tool} both need the new root certificate.",
    "The runbook for {tool} failovers is pinned in #ops.",
]

_DEV_TEMPLATES = [
    "Deploys to {place} go through {tool}, then {tool} runs the smoke tests.",
    "the {tool} job failed again, retrying with a bigger runner",
    "{tool} metrics are scraped into {tool} every {n2}s.",
    "Why does {tool} time out when {tool} is under load?",
    "Our {place} team prefers {tool} over {tool} for new services.",
    "{tool} {version} broke the login page, rolling back.",
    "All backups are encrypted by {tool} before they leave {place}.",
    "Please file {tool} bugs in the platform board, not in {tool}.",
    "{tool} handles retries; {tool} only sees the final status.",
    "We evaluated {tool} in {place} but stayed on {tool}.",
    "p50 for {tool} queries is {n2}ms, p99 is {n3}ms.",
    "turn off {tool} in staging, it floods {tool} with events",
    "The {place} and {place} data centres both mirror {tool}.",
    "Who owns the {tool} license renewal this year?",
    "{tool} reads its config from {tool} at startup.",
    "New hires get {tool}, {tool} and {tool} access on day one.",
    "Traffic from {place} is routed via {tool} since March.",
    "the {tool} connector to {tool} drops rows with null ids",
    "Is it {tool} or {tool} that rewrites the headers?",
    "{tool} webhook retries are capped at {n1} attempts.",
]


_DEV2_NAMES = """
Mattermost Rocket.Chat Zulip Discourse Gitpod Codespaces Coder Devbox Tilt Skaffold Garden Okteto
Telepresence Kustomize Jsonnet Cue Dhall Starlark Buck Pants Earthly Dagger Rush Bazelisk Meson Ninja
CMake Conan vcpkg Cargo Rustup Clippy Tokio Actix Axum Rocket Warp Hyper Tonic Gin Echo Fiber Chi Beego
Revel Zola Eleventy Docusaurus MkDocs Sphinx Doxygen Javadoc Swagger Redoc Stoplight Insomnia
Hoppscotch Bruno Thunder_Client Paw RapidAPI Mockoon WireMock Prism Pact Karate Gauge Behave Cucumber
SpecFlow Robot_Framework Testim Mabl Percy Chromatic Applitools BrowserStack Sauce_Labs LambdaTest Detox
Appium Espresso XCTest Fastlane Bitrise Codemagic Expo Ionic Capacitor Cordova NativeScript Xamarin
MAUI Avalonia Blazor Razor Ecto Oban Broadway Nerves Gleam Lustre Elm ReScript PureScript Idris Agda
Coq Lean Zig Odin Nim Vala Haxe Groovy Grails Micronaut Helidon Vert.x Dropwizard Javalin Ktor Exposed
jOOQ MyBatis Hibernate EclipseLink Akka Pekko Lagom Finagle Protobuf gRPC FlatBuffers MessagePack Kryo
Memgraph Neo4j ArangoDB Dgraph SurrealDB FaunaDB RethinkDB CouchDB PouchDB Realm LevelDB RocksDB
Valkey KeyDB Dragonfly Hazelcast Aerospike Couchbase Riak Tarantool YugabyteDB TiDB Vitess Citus
Pgpool PgBouncer Patroni Barman Stolon Debezium Maxwell Canal Flume Kinesis_Firehose NATS Mosquitto
EMQX HiveMQ ZeroMQ Nanomsg Redpanda Memphis Benthos Fluvio Materialize RisingWave Feldera
Hanoi Bangkok Vientiane Yangon Penang Surabaya Bandung Cebu Davao Taipei Kaohsiung Osaka Kyoto Nagoya
Sapporo Fukuoka Busan Incheon Shanghai Beijing Shenzhen Guangzhou Chengdu Wuhan Hangzhou Xiamen Perth
Brisbane Hobart Darwin Wellington Christchurch Dunedin Suva Honolulu Anchorage Juneau Calgary Edmonton
Winnipeg Ottawa Halifax Detroit Cleveland Pittsburgh Philadelphia Baltimore Richmond Nashville Memphis
Louisville Cincinnati Columbus Indianapolis Milwaukee Minneapolis Kansas_City New_Orleans San_Antonio
El_Paso Las_Vegas Reno Salt_Lake_City San_Diego San_Jose Monterrey Guadalajara Puebla Cancun Bordeaux
Toulouse Nantes Strasbourg Lille Nice Antwerp Bruges Utrecht Eindhoven Groningen Leipzig Dresden Cologne
Stuttgart Nuremberg Bremen Hanover Salzburg Innsbruck Graz Basel Lausanne Bern Lucerne Gdansk Wroclaw
Poznan Lodz Brno Ostrava Bratislava Kosice Debrecen Cluj Timisoara Iasi Varna Plovdiv Thessaloniki
Patras Izmir Ankara Antalya Bursa Odessa Lviv Kharkiv Dnipro Aarhus Odense Malmo Gothenburg Uppsala
Tampere Turku Oulu Trondheim Stavanger Reykjavik
""".split()

_DEV2_TEMPLATES = [
    "{tool} flagged {n2} issues in the last nightly run.",
    "Switching the {place} mirror from {tool} to {tool} saved {n2} minutes per build.",
    "We keep {tool} pinned at {version} until the {tool} plugin catches up.",
    "{tool} in {place} is read-only this week.",
    "Please don't restart {tool} during {place} business hours.",
    "Our {tool} bill doubled after the {place} launch.",
    "{tool} owns the retries, {tool} just forwards the events.",
    "the {tool} agent on build-{n2} is stuck again",
    "Anyone know why {tool} rejects the {tool} token?",
    "{place} users see {tool} errors more often than {place} users.",
    "Data from {place} is replicated to {place} nightly via {tool}.",
    "The {tool} license covers {n2} seats, {tool} is free for us.",
    "Roll out {tool} {version} to {place} first, then everywhere.",
    "{tool} docs say the limit is {n3} requests per minute.",
    "We dropped {tool} for {tool} because of the pricing.",
    "Both {tool} and {tool} support SSO through our IdP.",
    "{tool} dashboards for {place} are in the shared folder.",
    "Move the {tool} cron to 02:00 {place} time.",
    "Did {tool} pick up the new schema in {place}?",
    "{tool} is the fallback when {tool} is unreachable.",
]


_DEV3_NAMES = """
Marvin Felix Roslyn Sherlock Watson Jarvis Alexa Cortana Pascal Newton Tesla Edison Turing
Hopper Lovelace Curie Volta Ampere Fermi Kepler Blackwell Ganglia Munin Monit Supervisor Systemd
Runit Upstart Chrony Certbot Keepalived Corosync Pacemaker DRBD GlusterFS BeeGFS SeaweedFS
JuiceFS Alluxio Presto Impala Hive Pig Kudu Superblocks ToolJet Refine Redash
Grist Baserow NocoDB Rowy Appwrite Nhost PocketBase Convex Xata Neon PlanetScale Turso Tigris
CockroachCloud Aiven Instaclustr Timescale_Cloud Upstash Momento Ably Pusher Centrifugo Socket.IO
Mercure Soketi Novu Courier Knock OneSignal Braze Iterable Customer.io Klaviyo Mailchimp Postmark
SparkPost Resend Mailjet Vonage Plivo Sinch Bandwidth MessageBird Telnyx Flowroute Nexmo Authy Duo
YubiKey 1Password Bitwarden LastPass Dashlane Keeper Doppler Infisical Akeyless Conjur Vaultwarden
SOPS age Tink Themis Fortanix Thales Venafi Smallstep cert-manager Pomerium
Warpgate Guacamole Sshwifty MeshCentral RustDesk AnyDesk TeamViewer Parsec Moonlight Sunshine Nextcloud
Seafile Syncthing Resilio ownCloud Pydio Filestash Mayan Paperless Docspell Outline BookStack Wiki.js
TiddlyWiki DokuWiki MediaWiki Trilium Logseq Obsidian Joplin Standard_Notes Memos Focalboard Plane
Taiga OpenProject Redmine Phabricator YouTrack Kanboard Wekan Vikunja Leantime Huly Twenty EspoCRM
SuiteCRM Odoo ERPNext Dolibarr Akaunting Invoice_Ninja Kimai Cal.com Rallly Nancy Sinatra Hanami
Roda Grape Padrino Cuba Lotus Mojolicious Dancer Catalyst Plack Slim Lumen CodeIgniter CakePHP Yii
Phalcon FuelPHP Zend Laminas Mezzio Spiral RoadRunner Swoole Workerman ReactPHP Amp Revolt
Irving Allen Norman Lawrence Everett Warren Quincy Marion Sherman Chester Preston Hamilton Nelson Troy
Clifton Beverly Shelby Carlisle Lancaster Worcester Gloucester Salisbury Canterbury
Winchester Hartford Providence Burlington Montpelier Concord Portsmouth Bangor
Syracuse Rochester Albany Ithaca Scranton Allentown Harrisburg Wilmington Dover Annapolis
Roanoke Lynchburg Greensboro Charleston Columbia Greenville Macon Mobile Huntsville Birmingham
Montgomery Biloxi Gulfport Pensacola Tallahassee Gainesville Sarasota Key_West Lubbock Amarillo
Midland Abilene Waco Killeen Laredo Corpus_Christi Brownsville Galveston Beaumont Texarkana
Tulare Visalia Stockton Merced Salinas Santa_Cruz Santa_Rosa Napa Eureka Redding Chico Medford Salem
Corvallis Pendleton Walla_Walla Kennewick Pullman Moscow_ID Coeur_dAlene Helena Casper Laramie
Rapid_City Pierre Bismarck Minot Duluth Mankato Dubuque Davenport Peoria Springfield
Champaign Bloomington Evansville Fort_Wayne Kalamazoo Lansing Flint Toledo Akron Dayton Youngstown
Erie Wheeling Morgantown Lexington Bowling_Green Paducah
""".split()

_DEV3_TEMPLATES = [
    "Is {tool} still behind the VPN in {place}, or can contractors reach it directly?",
    "ugh, {tool} lost the session again after the {place} failover",
    "{tool} -> {tool} -> {tool} is the whole pipeline, nothing else touches it",
    "FYI the {place} rack is running {tool} {version} now",
    "We budget {n2} hours a month for {tool} upkeep in {place}.",
    "{tool}: {n3} open alerts, most of them from {place}",
    "Swap {tool} for {tool} in the {place} template when you get a chance.",
    "has {tool} ever worked with {tool} for anyone here?",
    "The {place} office asked for {tool} on their laptops.",
    "{tool} said the disk in {place} is at {n2}%, {tool} disagrees",
    "+1 to dropping {tool}, {tool} does the same thing for free",
    "Tickets about {tool} go to the infra queue; {tool} ones go to security.",
    "{tool} nightly export lands in the {place} bucket at 03:00.",
    "the {place} pilot of {tool} ends on the {n1}th",
    "Running {tool} and {tool} side by side in {place} doubled the bill.",
    "{tool} is pinned to {version} because {tool} breaks on anything newer",
    "Can we get {tool} logs from {place} into {tool}?",
    "new {place} hires: install {tool} first, then {tool}",
    "{tool} answered in {n2}ms from {place} and {n3}ms from {place}",
    "Nobody in {place} uses {tool} any more, archive it?",
]

_DEV4_NAMES = """
Rclone Mastodon Lens k9s Talos Flatcar Bottlerocket CoreDNS Unbound PowerDNS Pi-hole AdGuard Rocky Alma
Nova Leo Stella Luna Marlin Ansel Frida Gus Sabre Cosmo Whisper Llama Mistral Gemma Claude Copilot
Cursor Codeium Tabnine Sourcegraph Reviewable Graphite Mergify Kodiak Bors OpenTofu Packwerk Rubocop
Brakeman Bandit Notary Harbor.io Quay Artifactory Nexus Verdaccio Pulp Cachix Please Nx Rush.js
Changesets Lefthook Husky Ruff Black Isort Mypy Pyright Pylint Flake8 Tox Nox Hatch PDM Rye Pipenv Pyenv
asdf Mise Fnm Jenv Sdkman Direnv Chezmoi Stow Starship Zellij Tmux Wezterm Alacritty Kitty Raycast
Alfred Rectangle Bear Craft Mem Reflect Roam Marvel Zeplin Abstract Penpot Lunacy Sketch InVision Maze
Lookback Dovetail Typeform Tally Jotform Doodle Tella Descript Riverside Otter Fireflies Gong Chorus
Outreach Apollo.io Kestra Mage Windmill Hatchet Inngest Trigger.dev Quirrel BullMQ Faktory Resque
Delayed_Job Hangfire Quartz Rundeck.io Cronitor Healthchecks Checkly Squadcast Rootly FireHydrant
incident.io Blameless Jeli Shoreline Komodor Robusta Kubecost OpenCost Goldilocks Karpenter Keda
Kubeless Nuclio Linkerd2 Easegress Pomerium.io Boundary.io Ziti Netbird Headscale Nebula ZeroTier
Innernet Firezone Defguard Portainer Yacht Dockge Kamal Piku Northflank Porter Qovery Zeet Cyclops Otomi
Kubero Epinio Taskwarrior Mantis Bugzilla Trac Fossil Mercurial Pijul Darcs Sapling Jujutsu Gitui
Lazygit Tig Meld Kdiff3 Difftastic Ripgrep Fzf Zoxide Bat Eza Alexandria Lowell Trenton Mesa Pueblo
Quebec Saskatoon Norfolk Burbank Glendale Sparks Bergamo Parma Modena Lucca Pisa Siena Perugia Ancona
Bari Lecce Messina Cagliari Sassari Udine Trento Bolzano Como Brescia Padua Vicenza Treviso Rimini
Ravenna Ferrara Piacenza Cremona Mantua Aosta Sondrio Kerala Goa Punjab Assam Sikkim Bihar Odisha
Gujarat Tamil_Nadu Andalusia Galicia Tuscany Lombardy Brittany Normandy Provence Flanders Wallonia
Silesia Bohemia Moravia Transylvania Dalmatia Anatolia Nuuk Akureyri Espoo Vantaa Lahti Kuopio Jyvaskyla
Plzen Heraklion Larissa Volos Konya Adana Trabzon Eskisehir Kayseri Sivas Erzurum Van Cairns Townsville
Geelong Ballarat Bendigo Mackay Rockhampton Bundaberg Toowoomba Wollongong Napier Rotorua Tralee Ennis
Athlone Mullingar Dundalk Drogheda Navan Carlow Wexford Cobh Bray Naas Tullamore Longford Ballina
Clonmel
""".split()

_DEV4_TEMPLATES = [
    "lol {tool} just restarted itself in {place} again",
    "any reason we still pay for {tool}? {tool} does it natively",
    "{tool} upgrade went fine in {place}, doing {place} tomorrow",
    "tbh {tool} has been rock solid since {version}",
    "who decided to put {tool} in front of {tool}?",
    "wondering if {tool} can replace {tool} for the {place} folks",
    "{tool} keeps timing out from {place}, known issue?",
    "moved the {place} backups to {tool} last night",
    "note to self: {tool} needs a restart after every {tool} deploy",
    "has anyone tried {tool} with {tool}? worth it?",
    "{place} is on {tool} {version}, everywhere else is on {version}",
    "+1 for {tool}, the {place} team loves it",
    "{tool} went down at 3am, {tool} caught it",
    "can we retire {tool} before Q{n1}?",
    "per the {place} audit we need {tool} on every laptop",
    "{tool} cost us {n3} dollars last month, mostly traffic from {place}",
    "gonna try {tool} for the {place} dashboards",
    "I think {tool} is the one writing to {tool}",
    "{tool} and {tool} are both fine, pick one",
    "does {tool} support SAML? the {place} legal team wants it",
]

_DEV5_NAMES = """
HarperDB Pandoc Quarto Marimo Streamlit Gradio Dash Panel Bokeh Plotly Altair Vega Seaborn
Matplotlib DuckDB Doris StarRocks Lightdash Evidence Hex Sigma Singer Fathom LogRocket Smartlook
Appcues Freshdesk Front Crisp Drift Pipedrive Attio Todoist Monday Forgejo Gogs SourceHut Perforce
Subversion pnpm Node Parcel esbuild SWC Snowpack Browserify Gulp Grunt Make Scons Guix Spack Mamba
Pixi uv pipx pytest Hypothesis Locust Gatling JMeter k6 Artillery Vegeta Siege Toxiproxy Chaos_Mesh
Litmus Gremlin Steadybit Pumba Gemfury Cloudsmith Packagecloud Sonatype Mend Socket Phylum
Chainguard Wolfi Oracle Solaris FreeBSD OpenBSD NetBSD Illumos Haiku Redox Fuchsia Zephyr RIOT
Contiki Mbed Arduino PlatformIO Tasmota ESPHome Zigbee2MQTT VerneMQ NanoMQ Chronograf Kapacitor Flux
Fluent_Bit Filebeat Metricbeat Heartbeat Auditbeat Packetbeat Seq Papertrail Loggly Logz Mezmo
Elastic_APM Airbrake Honeybadger VictorOps Incident_io Cachet Upptime Gatus Dead_Mans_Snitch
Better_Stack Freshping UptimeRobot Site24x7 Puppeteer WebdriverIO Nightwatch TestCafe Maestro
AppCenter OCaml Racket Lua Perl Tcl Fortran COBOL KeePassXC Cloudflared Ngrok Frp Gluu FusionAuth
SuperTokens Clerk Stytch Descope Frontegg WorkOS Permit SpiceDB Topaz Tracee Tetragon Multus Gloo
Apisix Zuul PostGraphile Drizzle TypeORM Sequelize Knex Objection MikroORM Peewee Tortoise Diesel
SeaORM GORM Ent sqlc Atlas Sqitch Bytebase Skeema SingleStore TDengine IoTDB GreptimeDB SkyWalking
Pinpoint Elastic_Agent Beats Otel_Collector Odigos Pixie Coroot Polaris Cluster_Autoscaler Flagger
Keptn GoCD Semaphore Codefresh Buildpacks Kaniko Buildah Skopeo Crane Ko Jib Helmfile Carvel Timoni
Pkl Nickel
Topeka Yuma Prescott Kingman Elko Carson Monterey Ventura Oxnard Temecula Escondido Chula_Vista
Pocatello Butte Decatur Gary Muncie Kokomo Canton Reading Altoona Paterson Newark Stamford Nashua
Buffalo Utica Binghamton Frederick Huntington Murfreesboro Tuscaloosa Monroe Fayetteville Branson
Kearney Brandon Sudbury Windsor Moncton Fredericton Charlottetown Gander Whitehorse Yellowknife
Iqaluit Kelowna Kamloops Nanaimo Launceston Invercargill Hastings Tauranga Whangarei Nadi Apia
Nukualofa Honiara Noumea Papeete Hilo Kona Lihue Kahului Bathurst Dubbo Orange Mildura Shepparton
Wagga_Wagga Albury Wodonga Gympie Gladstone Kalgoorlie Geraldton Bunbury Mandurah Busselton Broome
Katherine Alice_Springs Whyalla Gawler Mount_Gambier Devonport Burnie Timaru Oamaru Gisborne
Masterton Blenheim Greymouth Lismore Tamworth Armidale Grafton Coffs_Harbour Letterkenny Wrexham
Aberystwyth Carmarthen Truro Penzance Taunton Yeovil Guildford Slough Luton Stevenage Harlow
Chelmsford Colchester Ipswich Lowestoft Kings_Lynn Grimsby Hull Harrogate Scarborough Whitby Kendal
Blackpool Wigan Bolton Stockport Crewe Shrewsbury Hereford Swindon Banbury Northampton Kettering
Peterborough Ely Bedford Watford St_Albans Hemel Maidstone Eastbourne Crawley Horsham Chichester
Southampton Bournemouth Poole Weymouth
""".split()

# dev5 (2026-12-07): tools spoken of as if they were people ("Gremlin says", "blame Knex", "Maestro
# woke me up"), written before the scrubber changed and its misses read.
_DEV5_TEMPLATES = [
    "{tool} says the cert for {place} expires in {n1} days",
    "according to {tool}, {place} had {n2} failed logins overnight",
    "{tool} is yelling about disk space on the {place} box again",
    "{tool} woke me up at 3am, {tool} was fine the whole time",
    "blame {tool}, it cached the old config",
    "{tool} doesn't like the new TLS settings, {tool} does",
    "thanks to {tool} we caught the regression before {place} woke up",
    "{tool}: {n2} new errors since the last deploy",
    "{tool} told us the {place} replica was {n2} seconds behind",
    "{tool} is being weird today, anyone else seeing it?",
    "we're flying the {place} team in to help with {tool}",
    "{place} folks, {tool} will be read-only from {n1}pm",
    "{place} is {n1} hours ahead, so {tool} runs there first",
    "{tool} hates our monorepo, {tool} copes",
    "who set up {tool}? it keeps emailing the {place} list",
    "{tool} wants a restart after every config change",
    "{tool} and {tool} don't talk to each other yet",
    "moving the {place} backups off {tool} this sprint",
    "{tool} saved us again, {n2} bad rows blocked",
    "I asked {tool} and it says the {place} quota is fine",
]

_CHECK_NAMES = """
SaltStack Rudder CFEngine Foreman Cobbler Katello Rancher K3s MicroK8s Minikube OpenShift Knative
OpenFaaS Fission Dapr Kuma Waypoint Terragrunt Atlantis Spacelift Infracost Checkov tfsec Terrascan
Semgrep CodeQL Gitleaks TruffleHog Grype Syft Cosign Sigstore Clair Anchore Sysdig Wazuh Suricata Zeek
Snort osquery Kolide Jamf Intune Munki Scoop Winget Lansweeper Snipe-IT GLPI NetBox Nautobot phpIPAM
Oxidized LibreNMS Observium Cacti PRTG SolarWinds Pyroscope Parca GlitchTip SigNoz Uptrace OpenObserve
Quickwit Meilisearch Typesense Algolia Vespa Weaviate Qdrant Milvus Pinecone Chroma pgvector LanceDB
OpenSearch Manticore Tantivy Starlette Litestar Quart Pelican Hexo VuePress VitePress SvelteKit Hono
Elysia Koa Hapi Fastify AdonisJS Meteor LoopBack Directus Payload KeystoneJS Sanity Contentful
Storyblok Prismic WordPress Drupal Joomla Magento PrestaShop Shopify WooCommerce BigCommerce Medusa
Saleor Vendure Wagtail Kirby Element Matrix Synapse Jitsi BigBlueButton Webex Loom Calendly Linode
Vultr Scaleway OVHcloud UpCloud Backblaze Wasabi Render Railway Fly.io Koyeb Dokku CapRover Coolify dbt
Meltano Dataform Dataproc Dataflow Bigtable Spanner Firestore Memorystore Cloud_SQL Glue QuickSight
SageMaker Bedrock Comprehend Rekognition Polly Textract Vertex_AI PyTorch TensorFlow Keras JAX Flax
MLflow Kubeflow Metaflow ZenML Kedro DVC ClearML Ray Dask Modin Numba Cython Ollama vLLM LangChain
LlamaIndex Haystack Hudson Iris Ada Miranda Sage
Nicosia Limassol Valletta Luxembourg Monaco Andorra Vaduz Tromso Bergen Kiruna Umea Lulea Rovaniemi
Tartu Kaunas Klaipeda Grodno Vitebsk Gomel Chernihiv Poltava Zaporizhzhia Mykolaiv Sumy Ternopil
Uzhhorod Chernivtsi Constanta Brasov Sibiu Oradea Craiova Galati Ruse Burgas Pleven Sofia Ohrid Bitola
Durres Shkoder Rijeka Zadar Dubrovnik Pula Osijek Maribor Koper Pecs Szeged Gyor Miskolc Olomouc Pilsen
Liberec Zilina Presov Nitra Krakow Lublin Katowice Szczecin Bydgoszcz Torun Rzeszow Bialystok Kiel
Lubeck Rostock Magdeburg Erfurt Jena Kassel Freiburg Heidelberg Mannheim Karlsruhe Augsburg Regensburg
Wurzburg Bonn Aachen Dusseldorf Essen Dortmund Munster Bielefeld Linz Klagenfurt Winterthur Lugano
Grenoble Montpellier Rennes Reims Dijon Avignon Rouen Ghent Leuven Liege Namur Maastricht Leiden Delft
Haarlem Nijmegen Arnhem Tilburg Breda Cambridge Oxford York Bath Brighton Plymouth Exeter Norwich
Nottingham Sheffield Newcastle Liverpool Aberdeen Dundee Inverness Swansea Limerick Waterford Kilkenny
Sligo Tampa Orlando Jacksonville Asheville Knoxville Chattanooga Shreveport Baton_Rouge Little_Rock
Des_Moines Lincoln Fargo Sioux_Falls Billings Bozeman Missoula Flagstaff Santa_Fe Tempe Scottsdale
Provo Ogden Bend Olympia Bellingham Yakima Modesto Bakersfield Pasadena Irvine Berkeley Palo_Alto
Sunnyvale Cupertino Redmond Bellevue Pune Ahmedabad Kolkata Jaipur Kochi Lucknow Nagpur Indore
Chandigarh Coimbatore Mysore Da_Nang Haiphong Chiang_Mai Phuket Kuching Ipoh Johor_Bahru Medan
Semarang Makassar Denpasar Yogyakarta Sendai Hiroshima Kobe Yokohama Okinawa Daegu Daejeon Gwangju
Tianjin Nanjing Suzhou Qingdao Dalian Harbin Kunming Macau Hong_Kong Mombasa Kisumu Arusha Zanzibar
Entebbe Bujumbura Goma Lubumbashi Douala Yaounde Libreville Brazzaville Lome Cotonou Ouagadougou Niamey
Freetown Monrovia Conakry Durban Pretoria Cape_Town Bloemfontein Bulawayo Blantyre Lilongwe
Antananarivo Port_Louis Bogota Barranquilla Lima Trujillo Santiago La_Paz Sucre Cochabamba
Porto_Alegre Florianopolis Belo_Horizonte Brasilia Campinas Sao_Paulo Salvador Natal Oaxaca Veracruz
Tijuana Chihuahua Queretaro Jackson Leon Santo_Domingo Nassau Bridgetown San_Salvador
""".split()

_CHECK_TEMPLATES = [
    "heads up: {tool} maintenance window tonight, {place} traffic shifts to {place}",
    "fwiw {tool} {version} fixed the memory leak we saw in {place}",
    "can someone approve the {tool} access request for the {place} contractors?",
    "{tool} vs {tool} for the new queue? leaning {tool}",
    "PSA: rotate the {tool} keys before Friday, {tool} will reject old ones",
    "postmortem draft for the {tool} outage is up, {n2} min of downtime in {place}",
    "the {place} edge nodes still run {tool} {version}",
    "we should move {tool} secrets into {tool}",
    "{tool} ingest is lagging by {n2} minutes, {tool} looks healthy",
    "is there a {tool} plugin for {tool} or do we write our own?",
    "latency from {place} to {place} went up {n2}% after the {tool} change",
    "reminder: the {tool} trial ends on the {n1}th, decide before then",
    "{tool} keeps OOMing on the {place} workers, bumped memory to {n1}GB",
    "set up {tool} alerts for the {place} region please",
    "the {tool} migration is blocked on {tool} supporting v{n1} APIs",
    "ok to deprecate {tool} once {tool} covers the {place} use case?",
    "{tool} in {place} and {tool} in {place} disagree on the row counts",
    "benchmarked {tool}: {n3} req/s on one core",
    "quick q: does {tool} run on ARM in {place}?",
    "{tool} + {tool} setup guide is in the wiki under platform",
]

_PARTS = {
    "tune": (_TUNE_NAMES, _TUNE_TEMPLATES, "Berlin"),
    "dev": (_DEV_NAMES, _DEV_TEMPLATES, "Montevideo"),
    "dev2": (_DEV2_NAMES, _DEV2_TEMPLATES, "Hanoi"),
    "dev3": (_DEV3_NAMES, _DEV3_TEMPLATES, "Irving"),
    "dev4": (_DEV4_NAMES, _DEV4_TEMPLATES, "Alexandria"),
    "dev5": (_DEV5_NAMES, _DEV5_TEMPLATES, "Topeka"),
    "check": (_CHECK_NAMES, _CHECK_TEMPLATES, "Nicosia"),
}
PARTS = tuple(_PARTS)

_MIXED_TEMPLATES = [
    "ask {person} about the {tool} upgrade in {place}",
    "{person} said {tool} is fine, but {tool} still pages at night",
    "thanks {person} for moving us off {tool}!",
    "cc {person}: the {place} cluster needs {tool} {version}",
    "{person} and {person} own {tool}; ping them before touching it",
    "hey {person}, is {tool} still running in {place}?",
    "pairing with {person} on the {tool} migration",
    "who is {person}? they changed the {tool} settings",
]


def _split(part: str) -> tuple[list[str], list[str]]:
    names, _, first_place = _PARTS[part]
    cut = names.index(first_place)
    tools, places = names[:cut], names[cut:]
    return sorted({t.replace("_", " ") for t in tools}), sorted({p.replace("_", " ") for p in places})


@dataclass
class Sentence:
    text: str
    names: list[str]  # the tools and places it names, each of which must survive


def no_personal_data(part: str, n: int = 300, seed: int = 5) -> list[Sentence]:
    """`n` sentences of the `part`, its names drawn in turn (none twice before all are used: 600
    sentences use every name of every part; the benchmark's 300 use most of tune, dev and check)."""
    _, templates, _ = _PARTS[part]
    tools, places = _split(part)
    rng = random.Random(f"{part}-{seed}")
    tool_queue: list[str] = []
    place_queue: list[str] = []

    def draw(queue: list[str], pool: list[str]) -> str:
        if not queue:
            queue.extend(rng.sample(pool, len(pool)))
        return queue.pop()

    def fill(template: str) -> Sentence:
        used: list[str] = []

        def slot(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "tool":
                used.append(draw(tool_queue, tools))
            elif name == "place":
                used.append(draw(place_queue, places))
            else:
                return _slot(name, rng)
            return used[-1]

        return Sentence(re.sub(r"\{(\w+)\}", slot, template), used)

    return [fill(templates[i] if i < len(templates) else rng.choice(templates)) for i in range(n)]


def _slot(slot: str, rng: random.Random) -> str:
    if slot == "version":
        return f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    if slot == "port":
        return str(rng.choice([443, 5432, 6379, 8080, 8443, 9092, 9090]))
    digits = {"n1": (1, 9), "n2": (10, 99), "n3": (100, 999), "n4": (1000, 9999)}[slot]
    return str(rng.randint(*digits))


def distinct_names(part: str) -> int:
    tools, places = _split(part)
    return len(set(tools) | set(places))


def mixed(n: int = 100, seed: int = 9) -> tuple[list[Message], list[list[str]]]:
    """Messages with planted people beside tool and place names (from both parts)."""
    maker = _Maker(seed)
    rng = maker.rng
    tools = sorted(set(_split("tune")[0] + _split("dev")[0]))
    places = sorted(set(_split("tune")[1] + _split("dev")[1]))

    def fill(template: str) -> tuple[str, list[Planted], list[str]]:
        planted: list[Planted] = []
        used: list[str] = []

        def slot(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "person":
                planted.append(maker.person())
                return planted[-1].value
            if name in ("tool", "place"):
                used.append(rng.choice(tools if name == "tool" else places))
                return used[-1]
            return _slot(name, rng)

        return re.sub(r"\{(\w+)\}", slot, template), planted, used

    messages, names = [], []
    for i in range(n):
        text, planted, used = fill(_MIXED_TEMPLATES[i % len(_MIXED_TEMPLATES)])
        people = {w.lower() for p in planted for w in p.fragments}
        if people & {w.lower() for u in used for w in u.split()}:
            continue  # a planted person named like the tool beside it: that would test nothing
        messages.append(Message(i, text, planted))
        names.append(used)
    return messages, names

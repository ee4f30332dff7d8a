//! `driftless notifications ...`: Argo CD's `argocd admin notifications`
//! commands: list templates and triggers, render a template for an app and
//! evaluate a trigger over it, without sending unless `--recipient` asks.
//! The configuration comes from the cluster (`argocd-notifications-cm` and
//! its Secret in the control plane) or from files (`--config-map`, `--secret`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use driftless_api::Application;
use driftless_notify::config::{CONFIG_MAP, Config, SECRET};
use driftless_notify::plan::{self, Pending};
use driftless_notify::{Destination, controller::send_with_retries};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde::Serialize;

use crate::output::{Format, OutputArgs, print, table};

/// `driftless notifications`: test notification templates and triggers.
#[derive(clap::Args)]
pub struct NotificationsArgs {
    /// The control-plane namespace (where argocd-notifications-cm is).
    #[arg(short = 'N', long = "namespace", global = true, env = "DRIFTLESS_NAMESPACE", default_value = "argocd")]
    namespace: String,
    /// Read the ConfigMap from this file instead of the cluster.
    #[arg(long, global = true)]
    config_map: Option<PathBuf>,
    /// Read the Secret from this file instead of the cluster.
    #[arg(long, global = true)]
    secret: Option<PathBuf>,
    #[command(subcommand)]
    command: Group,
}

#[derive(clap::Subcommand)]
enum Group {
    /// Notification templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Notification triggers.
    #[command(subcommand)]
    Trigger(TriggerCommand),
}

#[derive(clap::Subcommand)]
enum TemplateCommand {
    /// List the templates (or one).
    Get(GetArgs),
    /// Render a template for an app; with `--recipient`, send it.
    Notify(NotifyArgs),
}

#[derive(clap::Subcommand)]
enum TriggerCommand {
    /// List the triggers (or one).
    Get(GetArgs),
    /// Evaluate a trigger's conditions over an app.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct GetArgs {
    /// A name; all without.
    name: Option<String>,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(clap::Args)]
struct NotifyArgs {
    /// The template.
    template: String,
    /// The Application (`name` in the control plane, or `namespace/name`).
    app: String,
    /// Send to `<service>:<recipient>` (repeatable); without, print only.
    #[arg(long)]
    recipient: Vec<String>,
    /// The service type to render for when printing (`.serviceType`).
    #[arg(long, default_value = "slack")]
    service_type: String,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The trigger.
    trigger: String,
    /// The Application (`name` in the control plane, or `namespace/name`).
    app: String,
    #[command(flatten)]
    out: OutputArgs,
}

/// Runs a `notifications` command.
pub async fn run(args: NotificationsArgs) -> anyhow::Result<()> {
    let needs_cluster = args.config_map.is_none()
        || args.secret.is_none()
        || matches!(&args.command, Group::Template(TemplateCommand::Notify(_)) | Group::Trigger(TriggerCommand::Run(_)));
    let client = if needs_cluster { Some(crate::kube_client::connect().await?) } else { None };
    let config = load(&args, client.as_ref()).await?;
    match args.command {
        Group::Template(TemplateCommand::Get(a)) => list(&config.templates.keys().cloned().collect::<Vec<_>>(), a, "template"),
        Group::Trigger(TriggerCommand::Get(a)) => list(&config.triggers.keys().cloned().collect::<Vec<_>>(), a, "trigger"),
        Group::Template(TemplateCommand::Notify(a)) => {
            let app = read_app(client.as_ref(), &args.namespace, &a.app).await?;
            notify(&config, &app, a).await
        }
        Group::Trigger(TriggerCommand::Run(a)) => {
            let app = read_app(client.as_ref(), &args.namespace, &a.app).await?;
            run_trigger(&config, &app, a)
        }
    }
}

async fn load(args: &NotificationsArgs, client: Option<&kube::Client>) -> anyhow::Result<Config> {
    let cm: Option<ConfigMap> = match (&args.config_map, client) {
        (Some(path), _) => Some(read_yaml(path)?),
        (None, Some(c)) => Api::namespaced(c.clone(), &args.namespace).get_opt(CONFIG_MAP).await.context("read the ConfigMap")?,
        (None, None) => None,
    };
    let Some(cm) = cm else { bail!("no ConfigMap {CONFIG_MAP} in namespace {}", args.namespace) };
    let secret: Option<Secret> = match (&args.secret, client) {
        (Some(path), _) => Some(read_yaml(path)?),
        (None, Some(c)) => Api::namespaced(c.clone(), &args.namespace).get_opt(SECRET).await.context("read the Secret")?,
        (None, None) => None,
    };
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    if let Some(s) = secret {
        secrets.extend(s.data.unwrap_or_default().into_iter().filter_map(|(k, v)| Some((k, String::from_utf8(v.0).ok()?))));
        secrets.extend(s.string_data.unwrap_or_default());
    }
    let config = Config::parse(&cm.data.unwrap_or_default(), &secrets);
    for e in &config.errors {
        eprintln!("warning: {e}");
    }
    Ok(config)
}

fn read_yaml<T: for<'de> serde::Deserialize<'de>>(path: &PathBuf) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_saphyr::from_str(&text).with_context(|| format!("{}: not a Kubernetes object of the expected kind", path.display()))
}

async fn read_app(client: Option<&kube::Client>, control_plane: &str, name: &str) -> anyhow::Result<serde_json::Value> {
    let Some(client) = client else { bail!("reading an app needs a cluster") };
    let (ns, name) = name.split_once('/').unwrap_or((control_plane, name));
    let app: Application = Api::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .with_context(|| format!("read Application {ns}/{name}"))?
        .with_context(|| format!("Application {ns}/{name} not found"))?;
    serde_json::to_value(&app).context("encode the app")
}

fn list(names: &[String], a: GetArgs, what: &str) -> anyhow::Result<()> {
    let names: Vec<String> = match &a.name {
        Some(n) if names.contains(n) => vec![n.clone()],
        Some(n) => bail!("{what} {n:?} is not configured in {CONFIG_MAP}"),
        None => names.to_vec(),
    };
    print(a.out.output, &names, || table(&["NAME"], &names.iter().map(|n| vec![n.clone()]).collect::<Vec<_>>()))
}

async fn notify(config: &Config, app: &serde_json::Value, a: NotifyArgs) -> anyhow::Result<()> {
    let pending = |to: Destination| Pending { trigger: String::new(), key: String::new(), to, templates: vec![a.template.clone()] };
    if a.recipient.is_empty() {
        let n = plan::render(config, &pending(Destination { service: String::new(), recipient: String::new() }), app, &a.service_type)
            .map_err(anyhow::Error::msg)?;
        #[derive(Serialize)]
        struct Rendered<'a> {
            message: &'a str,
            #[serde(flatten)]
            sections: &'a serde_json::Map<String, serde_json::Value>,
        }
        let rendered = Rendered { message: &n.message, sections: &n.sections };
        let format = if a.out.output == Format::Table { Format::Yaml } else { a.out.output };
        return print(format, &rendered, String::new);
    }
    for r in &a.recipient {
        let Some((service, recipient)) = r.split_once(':') else { bail!("--recipient {r:?}: not <service>:<recipient>") };
        let Some(s) = config.services.get(service) else { bail!("service {service:?} is not configured in {CONFIG_MAP}") };
        let n = plan::render(config, &pending(Destination { service: service.into(), recipient: recipient.into() }), app, s.service_type())
            .map_err(anyhow::Error::msg)?;
        send_with_retries(s, &n, recipient, 1, std::time::Duration::ZERO).await.with_context(|| format!("send to {service}"))?;
        eprintln!("sent to {r}");
    }
    Ok(())
}

fn run_trigger(config: &Config, app: &serde_json::Value, a: RunArgs) -> anyhow::Result<()> {
    let Some(trigger) = config.triggers.get(&a.trigger) else { bail!("trigger {:?} is not configured in {CONFIG_MAP}", a.trigger) };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Row {
        condition: String,
        result: bool,
        once_per: String,
        templates: Vec<String>,
        error: Option<String>,
    }
    let rows: Vec<Row> = trigger
        .conditions()
        .iter()
        .zip(trigger.run(&driftless_notify::trigger::env(app, jiff::Timestamp::now())))
        .map(|(c, r)| Row {
            condition: c.when().to_string(),
            result: r.triggered,
            once_per: r.once_per,
            templates: r.templates,
            error: r.error,
        })
        .collect();
    print(a.out.output, &rows, || {
        let cells: Vec<Vec<String>> =
            rows.iter().map(|r| vec![r.condition.clone(), r.result.to_string(), r.error.clone().unwrap_or_default()]).collect();
        table(&["CONDITION", "RESULT", "ERROR"], &cells)
    })
}

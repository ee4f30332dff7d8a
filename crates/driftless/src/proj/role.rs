//! `driftless proj role ...`: a project's roles, their policies (always
//! `p, proj:PROJECT:ROLE, applications, ACTION, PROJECT/OBJECT, allow|deny`,
//! as `argocd proj role add-policy` writes them), SSO groups and tokens.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use driftless_api::{AppProjectSpec, JwtToken, ProjectRole};
use driftless_server::project_tokens::{self, Which};
use driftless_server::rbac::project_subject;

use super::{NameOutput, OutputArgs, Projects, add, remove};
use crate::output::{LongOutputArgs, print, table};

#[derive(clap::Subcommand)]
pub enum RoleCommand {
    /// Create a role.
    Create(RoleArgs),
    /// List the roles of a project.
    List(NameOutput),
    /// Show a role: policies, groups, tokens.
    Get(GetArgs),
    /// Delete a role (its tokens stop working).
    Delete(RoleArgs),
    /// Add a policy line for applications of the project.
    AddPolicy(PolicyArgs),
    /// Remove a policy line.
    RemovePolicy(PolicyArgs),
    /// Give an SSO group the role.
    AddGroup(GroupArgs),
    /// Take the role from an SSO group.
    RemoveGroup(GroupArgs),
    /// Issue a token for the role and print it.
    CreateToken(TokenArgs),
    /// Revoke a token of the role by its issue time (Unix seconds).
    DeleteToken(DeleteTokenArgs),
}

#[derive(clap::Args)]
pub struct RoleArgs {
    /// The project.
    project: String,
    /// The role.
    role: String,
    /// What the role is for (create).
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct GetArgs {
    /// The project.
    project: String,
    /// The role.
    role: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct PolicyArgs {
    /// The project.
    project: String,
    /// The role.
    role: String,
    /// The action: get, sync, update, delete, override, action/..., update/..., delete/..., `*`.
    #[arg(short = 'a', long)]
    action: String,
    /// The application (glob) within the project: the object is PROJECT/OBJECT.
    #[arg(short = 'o', long, default_value = "*")]
    object: String,
    /// allow or deny.
    #[arg(short = 'p', long, default_value = "allow", value_parser = ["allow", "deny"])]
    permission: String,
    #[command(flatten)]
    output: LongOutputArgs,
}

#[derive(clap::Args)]
pub struct GroupArgs {
    /// The project.
    project: String,
    /// The role.
    role: String,
    /// The SSO group.
    group: String,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct TokenArgs {
    /// The project.
    project: String,
    /// The role.
    role: String,
    /// How long the token lasts (`24h`, `30m`); never expires when absent.
    #[arg(short = 'e', long = "expires-in")]
    expires_in: Option<String>,
    /// The token's id (default: random).
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(clap::Args)]
pub struct DeleteTokenArgs {
    /// The project.
    project: String,
    /// The role.
    role: String,
    /// The token's issue time (Unix seconds), as `role get` shows it.
    iat: i64,
    #[command(flatten)]
    output: OutputArgs,
}

/// A token as `role get` shows it.
#[derive(serde::Serialize)]
struct TokenRow {
    id: Option<String>,
    #[serde(rename = "iat")]
    issued_at: i64,
    #[serde(rename = "exp", skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// What `role get` prints.
#[derive(serde::Serialize)]
struct RoleView<'a> {
    #[serde(flatten)]
    role: &'a ProjectRole,
    tokens: Vec<TokenRow>,
}

fn role_mut<'a>(s: &'a mut AppProjectSpec, project: &str, role: &str) -> anyhow::Result<&'a mut ProjectRole> {
    s.roles.iter_mut().find(|r| r.name == role).with_context(|| format!("project {project:?} has no role {role:?}"))
}

/// The policy line `add-policy` writes, as Argo CD builds it.
fn policy_line(a: &PolicyArgs) -> String {
    format!("p, {}, applications, {}, {}/{}, {}", project_subject(&a.project, &a.role), a.action, a.project, a.object, a.permission)
}

fn when(t: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(t).map(|t| t.to_string()).unwrap_or_else(|_| t.to_string())
}

/// Runs a `proj role` command.
pub async fn run(p: &Projects, command: RoleCommand) -> anyhow::Result<()> {
    match command {
        RoleCommand::Create(a) => {
            p.modify(&a.project, a.output.output, |s| {
                if s.roles.iter().any(|r| r.name == a.role) {
                    bail!("project {:?} already has role {:?}", a.project, a.role);
                }
                if a.role.is_empty() || a.role.contains(':') {
                    bail!("role name {:?}: must not be empty or contain ':'", a.role);
                }
                s.roles.push(ProjectRole { name: a.role.clone(), description: a.description.clone(), ..Default::default() });
                Ok(format!("role '{}' created in project '{}'", a.role, a.project))
            })
            .await
        }
        RoleCommand::List(a) => {
            let project = p.get(&a.name).await?;
            let roles = &project.spec.roles;
            print(a.output.output, roles, || {
                let rows: Vec<Vec<String>> =
                    roles.iter().map(|r| vec![r.name.clone(), r.description.clone().unwrap_or_default()]).collect();
                table(&["ROLE-NAME", "DESCRIPTION"], &rows)
            })
        }
        RoleCommand::Get(a) => {
            let project = p.get(&a.project).await?;
            let role = project
                .spec
                .roles
                .iter()
                .find(|r| r.name == a.role)
                .with_context(|| format!("project {:?} has no role {:?}", a.project, a.role))?;
            // The role's records and the status's, once each.
            let mut seen: BTreeMap<(i64, Option<String>), &JwtToken> = BTreeMap::new();
            for t in project_tokens::records(&project, &a.role) {
                seen.entry((t.iat, t.id.clone())).or_insert(t);
            }
            let tokens: Vec<TokenRow> =
                seen.values().map(|t| TokenRow { id: t.id.clone(), issued_at: t.iat, expires_at: t.exp.filter(|e| *e > 0) }).collect();
            let view = RoleView { role, tokens };
            print(a.output.output, &view, || describe(&a.project, &view))
        }
        RoleCommand::Delete(a) => {
            p.modify(&a.project, a.output.output, |s| {
                role_mut(s, &a.project, &a.role)?;
                s.roles.retain(|r| r.name != a.role);
                Ok(format!("role '{}' deleted from project '{}'", a.role, a.project))
            })
            .await
        }
        RoleCommand::AddPolicy(a) => {
            let line = policy_line(&a);
            p.modify(&a.project, a.output.output, |s| {
                add(&mut role_mut(s, &a.project, &a.role)?.policies, line.clone(), &format!("policy {line:?}"), &a.project)
            })
            .await
        }
        RoleCommand::RemovePolicy(a) => {
            let line = policy_line(&a);
            p.modify(&a.project, a.output.output, |s| {
                remove(&mut role_mut(s, &a.project, &a.role)?.policies, &line, &format!("policy {line:?}"), &a.project)
            })
            .await
        }
        RoleCommand::AddGroup(a) => {
            p.modify(&a.project, a.output.output, |s| {
                add(
                    &mut role_mut(s, &a.project, &a.role)?.groups,
                    a.group.clone(),
                    &format!("group {} for role {}", a.group, a.role),
                    &a.project,
                )
            })
            .await
        }
        RoleCommand::RemoveGroup(a) => {
            p.modify(&a.project, a.output.output, |s| {
                remove(
                    &mut role_mut(s, &a.project, &a.role)?.groups,
                    &a.group,
                    &format!("group {} for role {}", a.group, a.role),
                    &a.project,
                )
            })
            .await
        }
        RoleCommand::CreateToken(a) => {
            let expires_in = match &a.expires_in {
                Some(e) => {
                    let d = driftless_controller::parse_duration(e)
                        .with_context(|| format!("--expires-in {e:?}: expected a duration such as 24h, 30m or 90s"))?;
                    i64::try_from(d.as_secs()).context("--expires-in: too long")?
                }
                None => 0,
            };
            let key = project_tokens::signing_key(&p.client, &p.namespace).await?;
            let issued = project_tokens::issue(&p.client, &p.namespace, &a.project, &a.role, &key, expires_in, a.id).await?;
            #[derive(serde::Serialize)]
            struct Created<'a> {
                token: &'a str,
                #[serde(flatten)]
                record: &'a JwtToken,
            }
            print(a.output.output, &Created { token: &issued.token, record: &issued.record }, || format!("{}\n", issued.token))
        }
        RoleCommand::DeleteToken(a) => {
            let stored = project_tokens::revoke(&p.client, &p.namespace, &a.project, &a.role, &Which::IssuedAt(a.iat)).await?;
            print(a.output.output, &stored, || {
                format!("token issued at {} of role '{}' in project '{}' revoked\n", a.iat, a.role, a.project)
            })
        }
    }
}

fn describe(project: &str, v: &RoleView<'_>) -> String {
    let r = v.role;
    let mut out = format!(
        "Role Name:     {}\nDescription:   {}\nPolicies:\n{}\nGroups:        {}\nJWT Tokens:\n",
        r.name,
        r.description.clone().unwrap_or_default(),
        table(&["PROJECT", "SUBJECT", "RESOURCE", "ACTION", "OBJECT", "EFFECT"], &policy_rows(project, r)),
        if r.groups.is_empty() { "<none>".to_string() } else { r.groups.join(", ") },
    );
    let rows: Vec<Vec<String>> = v
        .tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone().unwrap_or_default(),
                t.issued_at.to_string(),
                when(t.issued_at),
                t.expires_at.map(when).unwrap_or_else(|| "<none>".into()),
            ]
        })
        .collect();
    out.push_str(&table(&["ID", "ISSUED-AT", "ISSUED", "EXPIRES"], &rows));
    out
}

fn policy_rows(project: &str, r: &ProjectRole) -> Vec<Vec<String>> {
    r.policies
        .iter()
        .map(|line| {
            let mut row = vec![project.to_string()];
            row.extend(line.split(',').map(|f| f.trim().to_string()).skip(1));
            row
        })
        .collect()
}

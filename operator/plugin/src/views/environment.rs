//! An Environment: its current release and the models it exposes, who may promote into it, and
//! the Promotions still on their way.

use kube::ResourceExt;
use sluice_api::{Environment, Promotion};

use super::{
    Scene, policy_text, promotion_environment, promotion_status, ready_status, target, trouble,
};
use crate::output::{self, Row, Tone, fields, status};

/// An Environment and the Promotions of its namespace.
pub struct EnvironmentScene {
    pub environment: Environment,
    pub promotions: Vec<Promotion>,
}

impl Scene for EnvironmentScene {
    fn header(&self, color: bool) -> String {
        let e = &self.environment;
        let s = e.status.clone().unwrap_or_default();
        let ready = s
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        let message = Some(trouble(&s.conditions))
            .filter(|t| !t.is_empty())
            .unwrap_or(ready);
        let release = s.release.as_ref().map_or(String::new(), |r| {
            let mut text = format!("{} (promoted {}", r.id, r.promoted_at);
            if let Some(promotion) = &r.promotion {
                text.push_str(&format!(" by promotion {promotion}"));
            }
            text.push(')');
            if !r.approved_by.is_empty() {
                text.push_str(&format!("; approved by {}", r.approved_by.join(", ")));
            }
            text
        });
        let warehouse = format!(
            "{} (Secret {}, key {})",
            s.warehouse_name.clone().unwrap_or_else(|| e.name_any()),
            e.spec.warehouse.secret_ref.name,
            e.spec.warehouse.secret_ref.key
        );
        let last_run = s.last_run.as_ref().map_or(String::new(), |r| {
            format!(
                "{} at {} ({} model(s)){}",
                r.result,
                r.started_at,
                r.models,
                Some(&r.message)
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )
        });
        fields(&[
            ("Name", e.name_any()),
            ("Namespace", e.namespace().unwrap_or_default()),
            ("Warehouse", warehouse),
            ("Status", ready_status(&s.conditions).paint(color)),
            ("Message", message),
            ("Release", release),
            ("Models", s.models.to_string()),
            ("Approvals", policy_text(&e.spec.promotion, false)),
            ("Rollback approvals", policy_text(&e.spec.promotion, true)),
            ("Expires", s.expires_at.clone().unwrap_or_default()),
            ("Last run", last_run),
            ("Next run", s.next_run.clone().unwrap_or_default()),
        ])
    }

    fn tree(&self) -> Row {
        let e = &self.environment;
        let s = e.status.clone().unwrap_or_default();
        let mut children = Vec::new();
        if let Some(r) = &s.release {
            let mut listed = r.models.clone();
            listed.sort_by(|a, b| a.name.cmp(&b.name));
            let mut models: Vec<Row> = listed
                .iter()
                .map(|m| {
                    Row::new(m.name.clone(), "Model").info(format!("{} {}", m.kind, m.version))
                })
                .collect();
            if (s.models as usize) > r.models.len() {
                models.push(Row::group(
                    format!("{} more model(s)", s.models as usize - r.models.len()),
                    vec![],
                ));
            }
            let mut info = Vec::new();
            if let Some(promotion) = &r.promotion {
                info.push(format!("promotion {promotion}"));
            }
            if !r.approved_by.is_empty() {
                info.push(format!("approved by {}", r.approved_by.join(", ")));
            }
            children.push(
                Row::new(r.id.clone(), "Release")
                    .status(status(Tone::Good, "Live"))
                    .since(output::epoch(&r.promoted_at))
                    .info(info.join("; "))
                    .children(models),
            );
        }
        let name = e.name_any();
        let pending: Vec<Row> = self
            .promotions
            .iter()
            .filter(|p| promotion_environment(p).as_deref() == Some(name.as_str()))
            .filter(|p| !p.status.as_ref().is_some_and(|s| s.phase.is_terminal()))
            .map(|p| {
                let st = p.status.clone().unwrap_or_default();
                let mut info = target(p);
                if let Some(count) = st.approval_count {
                    info.push_str(&format!("; approvals {count}"));
                }
                Row::new(p.name_any(), "Promotion")
                    .status(promotion_status(st.phase))
                    .since(output::created(&p.metadata))
                    .info(info)
            })
            .collect();
        if !pending.is_empty() {
            children.push(Row::group("promotions in progress", pending));
        }
        let info = s
            .release
            .as_ref()
            .map_or("no release yet".to_string(), |r| {
                format!("release {}", r.id)
            });
        Row::new(name, "Environment")
            .status(ready_status(&s.conditions))
            .since(output::created(&e.metadata))
            .info(info)
            .children(children)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn an_environment_shows_its_release_models_and_pending_promotions() {
        let scene = EnvironmentScene {
            environment: fixtures::prod(),
            promotions: vec![
                fixtures::promotion_awaiting(),
                fixtures::promotion_rejected(),
            ],
        };
        fixtures::golden("environment_prod.txt", &scene.render(fixtures::NOW, false));
    }
}

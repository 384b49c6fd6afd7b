//! The model graph: each model's parsed query and parents, in topological order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::Model;
use crate::project::Project;
use crate::sql::{ParsedQueries, ParsedQuery};

/// A model with what the graph learned about it.
#[derive(Debug, Clone)]
pub struct Node {
    pub model: Model,
    /// `None` for SEED and EXTERNAL models.
    pub query: Option<ParsedQuery>,
    /// Parent model names (as written), sorted.
    pub parents: Vec<String>,
    /// Relations the query reads that are not models: external sources, used as-is.
    pub sources: BTreeSet<String>,
    /// Models its audits read besides it and its parents: built before it when they are not
    /// downstream of it, but not its parents (a change to them does not change it).
    pub audit_reads: Vec<String>,
}

/// Models in topological order (parents before children).
#[derive(Debug, Clone, Default)]
pub struct Dag {
    pub nodes: Vec<Node>,
    index: HashMap<String, usize>,
    /// Positions in `nodes` of each node's children.
    children: Vec<Vec<usize>>,
    /// Models left out because they need Python: `(model or file, why)`.
    pub refused: Vec<(String, String)>,
    /// The SQL models among those, left out only for reading what needs Python: their unit
    /// tests, which give that input as rows, can still run.
    pub left_out: Vec<Node>,
}

/// Why a project's graph could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// Query errors, one per model: `path:line: message`.
    Sql(Vec<String>),
    /// Models that depend on each other in a cycle.
    Cycle(Vec<String>),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Sql(errors) => write!(f, "{}", errors.join("\n")),
            GraphError::Cycle(models) => write!(
                f,
                "models depend on each other in a cycle: {} -> {}",
                models.join(" -> "),
                models[0]
            ),
        }
    }
}

impl std::error::Error for GraphError {}

pub use crate::model::model_key;

impl Dag {
    /// Parses every model's query and orders the models so parents come first.
    pub fn build(project: &Project) -> Result<Dag, GraphError> {
        Dag::build_with(project, &mut ParsedQueries::default())
    }

    /// [`Dag::build`], taking queries parsed before from `parsed`.
    pub fn build_with(project: &Project, parsed: &mut ParsedQueries) -> Result<Dag, GraphError> {
        let keys: BTreeMap<String, usize> = project
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (model_key(&m.name), i))
            .collect();
        let mut nodes = Vec::with_capacity(project.models.len());
        let mut errors = Vec::new();
        for model in &project.models {
            let query = match &model.query {
                Some(sql) => match parsed.parse(sql, model.dialect, model.query_line) {
                    Ok(q) => Some(q),
                    Err(e) => {
                        errors.push(format!(
                            "{}:{}: {}",
                            model.path.display(),
                            e.line,
                            e.message
                        ));
                        None
                    }
                },
                None => None,
            };
            let mut parents = BTreeSet::new();
            let mut sources = BTreeSet::new();
            let referenced = query.iter().flat_map(|q| q.tables.iter().cloned());
            let declared = model.depends_on.iter().map(|d| model_key(d));
            for table in referenced.chain(declared) {
                match keys.get(&table) {
                    Some(&i) if project.models[i].name != model.name => {
                        parents.insert(project.models[i].name.clone());
                    }
                    Some(_) => {}
                    None => {
                        sources.insert(table);
                    }
                }
            }
            let audit_reads = crate::audit::audit_reads(model, &project.audits)
                .into_iter()
                .filter_map(|table| keys.get(&table).map(|&i| &project.models[i].name))
                .filter(|name| !parents.contains(*name))
                .cloned()
                .collect();
            nodes.push(Node {
                model: model.clone(),
                query,
                parents: parents.into_iter().collect(),
                sources,
                audit_reads,
            });
        }
        if !errors.is_empty() {
            return Err(GraphError::Sql(errors));
        }
        let (nodes, refused, left_out) = without_python(nodes, &project.needs_python);
        let mut dag = order(nodes)?;
        dag.refused = refused;
        dag.left_out = left_out;
        Ok(dag)
    }

    pub fn get(&self, name: &str) -> Option<&Node> {
        self.index.get(&model_key(name)).map(|&i| &self.nodes[i])
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(&model_key(name))
    }

    /// Names of all models downstream of `name` (not including it).
    pub fn downstream(&self, name: &str) -> BTreeSet<String> {
        let mut seen = vec![false; self.nodes.len()];
        let mut frontier: Vec<usize> = self
            .index
            .get(&model_key(name))
            .copied()
            .into_iter()
            .collect();
        let mut found = BTreeSet::new();
        while let Some(current) = frontier.pop() {
            for &child in &self.children[current] {
                if !seen[child] {
                    seen[child] = true;
                    found.insert(self.nodes[child].model.name.clone());
                    frontier.push(child);
                }
            }
        }
        found
    }
}

/// Leaves out the models that read a Python model, directly or through others, and names
/// every Python model and every model left out; returns the kept and the left-out nodes.
fn without_python(
    mut nodes: Vec<Node>,
    python: &[crate::project::NeedsPython],
) -> (Vec<Node>, Vec<(String, String)>, Vec<Node>) {
    let mut refused: Vec<(String, String)> = python
        .iter()
        .map(|p| {
            let what = match &p.name {
                Some(name) => format!("{name} ({})", p.path.display()),
                None => p.path.display().to_string(),
            };
            (what, p.reason.clone())
        })
        .collect();
    let mut gone: BTreeSet<String> = python
        .iter()
        .filter_map(|p| p.name.as_deref().map(model_key))
        .collect();
    let mut left_out = Vec::new();
    loop {
        let before = nodes.len();
        let (kept, out): (Vec<Node>, Vec<Node>) = nodes.into_iter().partition(|n| {
            let reads = n
                .sources
                .iter()
                .chain(n.parents.iter())
                .map(|t| model_key(t))
                .find(|t| gone.contains(t));
            match reads {
                Some(python) => {
                    refused.push((
                        n.model.name.clone(),
                        format!("reads {python}, which is left out"),
                    ));
                    gone.insert(model_key(&n.model.name));
                    false
                }
                None => true,
            }
        });
        nodes = kept;
        left_out.extend(out);
        if nodes.len() == before {
            return (nodes, refused, left_out);
        }
    }
}

/// Sorts nodes topologically, taking ready models by name so the order is stable and
/// readable; on a cycle, names the models in it.
fn order(nodes: Vec<Node>) -> Result<Dag, GraphError> {
    let positions: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (model_key(&n.model.name), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut waiting: Vec<usize> = vec![0; nodes.len()];
    for (child, node) in nodes.iter().enumerate() {
        for parent in &node.parents {
            children[positions[&model_key(parent)]].push(child);
            waiting[child] += 1;
        }
    }
    // What a model's audits read comes first too, unless it is downstream of the model (or
    // waits for it through other audits).
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        for read in &node.audit_reads {
            let Some(&r) = positions.get(&model_key(read)) else {
                continue;
            };
            if !reaches(&[&children, &after], i, r) {
                after[r].push(i);
                waiting[i] += 1;
            }
        }
    }
    let mut ready: BTreeSet<(String, usize)> = (0..nodes.len())
        .filter(|&i| waiting[i] == 0)
        .map(|i| (nodes[i].model.name.clone(), i))
        .collect();
    let mut sorted = Vec::with_capacity(nodes.len());
    while let Some((_, i)) = ready.pop_first() {
        sorted.push(i);
        for &c in children[i].iter().chain(&after[i]) {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.insert((nodes[c].model.name.clone(), c));
            }
        }
    }
    if sorted.len() < nodes.len() {
        return Err(GraphError::Cycle(find_cycle(&nodes, &children)));
    }
    let mut position = vec![0; nodes.len()];
    for (new, &old) in sorted.iter().enumerate() {
        position[old] = new;
    }
    let mut sorted_children = vec![Vec::new(); nodes.len()];
    for (old, cs) in children.into_iter().enumerate() {
        sorted_children[position[old]] = cs.into_iter().map(|c| position[c]).collect();
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let nodes: Vec<Node> = sorted.into_iter().filter_map(|i| slots[i].take()).collect();
    let index = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (model_key(&n.model.name), i))
        .collect();
    Ok(Dag {
        nodes,
        index,
        children: sorted_children,
        refused: Vec::new(),
        left_out: Vec::new(),
    })
}

/// Whether `to` comes after `from` (or is it) along the edges of `graphs`.
fn reaches(graphs: &[&Vec<Vec<usize>>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; graphs[0].len()];
    let mut pending = vec![from];
    while let Some(i) = pending.pop() {
        if i == to {
            return true;
        }
        if !std::mem::replace(&mut seen[i], true) {
            for graph in graphs {
                pending.extend(&graph[i]);
            }
        }
    }
    false
}

/// The models of one strongly connected component with more than one member (or a self-loop).
fn find_cycle(nodes: &[Node], children: &[Vec<usize>]) -> Vec<String> {
    let mut graph = DiGraph::<usize, ()>::new();
    let ix: Vec<NodeIndex> = (0..nodes.len()).map(|i| graph.add_node(i)).collect();
    for (p, cs) in children.iter().enumerate() {
        for &c in cs {
            graph.add_edge(ix[p], ix[c], ());
        }
    }
    let mut cycle: Vec<String> = tarjan_scc(&graph)
        .into_iter()
        .find(|scc| scc.len() > 1)
        .map(|scc| {
            scc.into_iter()
                .map(|n| nodes[graph[n]].model.name.clone())
                .collect()
        })
        .unwrap_or_default();
    cycle.sort();
    cycle
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A FULL model with the given query, for tests across the engine.
    pub(crate) fn model(name: &str, query: &str) -> Model {
        Model::full(name, query)
    }

    pub(crate) fn project(models: Vec<Model>) -> Project {
        Project {
            models,
            ..Default::default()
        }
    }

    #[test]
    fn models_reading_a_python_model_are_left_out_by_name() {
        let mut p = project(vec![
            model("s.child", "SELECT * FROM s.py"),
            model("s.grandchild", "SELECT * FROM s.child"),
            model("s.other", "SELECT 1 AS x"),
        ]);
        p.needs_python = vec![crate::project::NeedsPython {
            path: "models/py.py".into(),
            name: Some("s.py".into()),
            reason: "a Python model: Sluice does not run Python".into(),
        }];
        let dag = Dag::build(&p).unwrap();
        let kept: Vec<&str> = dag.nodes.iter().map(|n| n.model.name.as_str()).collect();
        assert_eq!(kept, ["s.other"]);
        let refused: Vec<String> = dag
            .refused
            .iter()
            .map(|(w, why)| format!("{w}: {why}"))
            .collect();
        assert_eq!(
            refused,
            [
                "s.py (models/py.py): a Python model: Sluice does not run Python",
                "s.child: reads s.py, which is left out",
                "s.grandchild: reads s.child, which is left out",
            ]
        );
    }

    #[test]
    fn parents_come_before_children_and_sources_are_separate() {
        let dag = Dag::build(&project(vec![
            model(
                "mart.revenue",
                "SELECT * FROM stg.orders JOIN stg.customers USING (cid)",
            ),
            model("stg.orders", "SELECT * FROM raw.orders"),
            model(
                "stg.customers",
                "WITH c AS (SELECT * FROM raw.customers) SELECT * FROM c",
            ),
        ]))
        .unwrap();
        let names: Vec<&str> = dag.nodes.iter().map(|n| n.model.name.as_str()).collect();
        assert_eq!(names, ["stg.customers", "stg.orders", "mart.revenue"]);
        assert_eq!(
            dag.get("mart.revenue").unwrap().parents,
            ["stg.customers", "stg.orders"]
        );
        let sources: Vec<&String> = dag.get("stg.customers").unwrap().sources.iter().collect();
        assert_eq!(sources, ["raw.customers"]);
        assert_eq!(
            dag.downstream("stg.orders").into_iter().collect::<Vec<_>>(),
            ["mart.revenue"]
        );
    }

    #[test]
    fn model_references_are_case_insensitive() {
        let dag = Dag::build(&project(vec![
            model("stg.Orders", "SELECT 1 AS id"),
            model("mart.x", "SELECT * FROM STG.ORDERS"),
        ]))
        .unwrap();
        assert_eq!(dag.get("mart.x").unwrap().parents, ["stg.Orders"]);
    }

    #[test]
    fn a_cycle_names_its_models() {
        let err = Dag::build(&project(vec![
            model("a.one", "SELECT * FROM a.three"),
            model("a.two", "SELECT * FROM a.one"),
            model("a.three", "SELECT * FROM a.two"),
            model("a.free", "SELECT 1"),
        ]))
        .unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle(vec!["a.one".into(), "a.three".into(), "a.two".into()])
        );
        assert!(
            err.to_string()
                .contains("a.one -> a.three -> a.two -> a.one"),
            "{err}"
        );
    }

    #[test]
    fn sql_errors_name_file_and_line() {
        let err = Dag::build(&project(vec![model(
            "a.bad",
            "SELECT id,\nFROM x WHERE = 1",
        )]))
        .unwrap_err();
        assert!(err.to_string().starts_with("models/a.bad.sql:4:"), "{err}");
    }
}

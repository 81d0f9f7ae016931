//! `msf inspect MODEL`: one row per op (shapes, dtypes, MACs, weight and activation bytes) and
//! the totals, as a table or as JSON.

use crate::util::load_model;
use anyhow::Result;
use msf_model::stats::{conv_macs, op_stats};
use msf_model::Graph;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A .tflite or .onnx model.
    model: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct TensorInfo {
    index: usize,
    shape: Vec<usize>,
    dtype: String,
}

#[derive(Serialize)]
struct Row {
    index: usize,
    op: String,
    name: String,
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    macs: u64,
    weight_bytes: u64,
    activation_bytes: u64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    format: String,
    ops: Vec<Row>,
    total_macs: u64,
    conv_macs: u64,
    total_weight_bytes: u64,
    /// The largest activation footprint of any single op (its inputs plus outputs).
    max_op_activation_bytes: u64,
}

fn report(graph: &Graph) -> Report {
    let info = |ids: &[usize], consts: bool| -> Vec<TensorInfo> {
        ids.iter()
            .filter(|&&t| consts || !graph.tensors[t].is_constant())
            .map(|&t| TensorInfo { index: t, shape: graph.tensors[t].shape.clone(), dtype: graph.tensors[t].dtype.to_string() })
            .collect()
    };
    let ops: Vec<Row> = graph
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let s = op_stats(graph, i);
            Row {
                index: i,
                op: op.kind.name().to_string(),
                name: op.name.clone(),
                inputs: info(&op.inputs, false),
                outputs: info(&op.outputs, true),
                macs: s.macs,
                weight_bytes: s.weight_bytes,
                activation_bytes: s.activation_bytes,
            }
        })
        .collect();
    Report {
        model: graph.name.clone(),
        format: graph.format.to_string(),
        total_macs: ops.iter().map(|r| r.macs).sum(),
        conv_macs: conv_macs(graph),
        total_weight_bytes: ops.iter().map(|r| r.weight_bytes).sum(),
        max_op_activation_bytes: ops.iter().map(|r| r.activation_bytes).max().unwrap_or(0),
        ops,
    }
}

fn shapes(list: &[TensorInfo]) -> String {
    list.iter()
        .map(|t| format!("{}{:?}", if t.dtype == "int8" { "" } else { &t.dtype }, t.shape).replace(' ', ""))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(a: Args) -> Result<()> {
    let graph = load_model(&a.model)?;
    let r = report(&graph);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!("{} ({}): {} ops, {} tensors", r.model, r.format, r.ops.len(), graph.tensors.len());
    println!("{:>4}  {:<18} {:<28} {:<22} {:>12} {:>10} {:>10}", "#", "op", "inputs", "outputs", "MACs", "weights B", "act. B");
    for row in &r.ops {
        println!(
            "{:>4}  {:<18} {:<28} {:<22} {:>12} {:>10} {:>10}",
            row.index,
            row.op,
            shapes(&row.inputs),
            shapes(&row.outputs),
            row.macs,
            row.weight_bytes,
            row.activation_bytes
        );
    }
    println!("total MACs {} (conv + depthwise {}), weights {} B, largest op footprint {} B", r.total_macs, r.conv_macs, r.total_weight_bytes, r.max_op_activation_bytes);
    println!("(shapes are int8 unless a dtype is named)");
    Ok(())
}

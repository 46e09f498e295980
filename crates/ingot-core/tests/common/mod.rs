//! Shared by the parity and gradient-check tests: reading the PyTorch
//! reference cases and mapping each op name to the ingot call.

#![allow(dead_code)]

use ingot::{DType, Device, HostData, Result, Tensor};
use serde_json::Value;

/// One reference case from `tests/reference/ops.json`.
pub struct Case {
    pub op: String,
    pub attrs: Value,
    pub dtype: DType,
    pub inputs: Vec<Value>,
    pub output: Value,
    pub cotangent: Option<Value>,
    pub grads: Vec<Option<Value>>,
}

impl Case {
    pub fn label(&self) -> String {
        format!("{} {} {}", self.op, self.dtype, self.attrs)
    }
}

pub fn load_cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/ops.json");
    let text = std::fs::read_to_string(path)
        .expect("reference file (run tests/reference/gen_reference.py)");
    let root: Value = serde_json::from_str(&text).expect("valid JSON");
    root["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            op: c["op"].as_str().unwrap().to_string(),
            attrs: c["attrs"].clone(),
            dtype: dtype_of(c["dtype"].as_str().unwrap()),
            inputs: c["inputs"].as_array().unwrap().clone(),
            output: c["output"].clone(),
            cotangent: (!c["cotangent"].is_null()).then(|| c["cotangent"].clone()),
            grads: c["grads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| (!g.is_null()).then(|| g.clone()))
                .collect(),
        })
        .collect()
}

pub fn dtype_of(name: &str) -> DType {
    match name {
        "float64" => DType::F64,
        "float32" => DType::F32,
        "int64" => DType::I64,
        "bool" => DType::Bool,
        other => panic!("unknown dtype {other}"),
    }
}

pub fn shape_of(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

/// The values of an encoded tensor, as f64.
pub fn values(v: &Value) -> Vec<f64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| match x {
            Value::Bool(b) => *b as u8 as f64,
            other => other.as_f64().unwrap(),
        })
        .collect()
}

/// Builds an encoded tensor exactly (f32 data is stored exactly in JSON).
pub fn tensor(v: &Value) -> Tensor {
    let shape = shape_of(v);
    let vals = values(v);
    let dev = Device::cpu();
    let data = match dtype_of(v["dtype"].as_str().unwrap()) {
        DType::F64 => HostData::F64(vals),
        DType::F32 => HostData::F32(vals.iter().map(|&x| x as f32).collect()),
        DType::I64 => HostData::I64(vals.iter().map(|&x| x as i64).collect()),
        DType::Bool => HostData::Bool(vals.iter().map(|&x| x != 0.0).collect()),
        other => panic!("unexpected dtype {other}"),
    };
    Tensor::from_host(data, &shape, &dev).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn isizes(v: &Value) -> Vec<isize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap() as isize)
        .collect()
}

fn pair(v: &Value) -> (usize, usize) {
    let p = usizes(v);
    (p[0], p[1])
}

/// Runs the ingot op named `op` with PyTorch-case attributes.
pub fn apply(op: &str, a: &Value, xs: &[Tensor]) -> Result<Tensor> {
    let x = &xs[0];
    let f = |k: &str| a[k].as_f64().unwrap();
    let i = |k: &str| a[k].as_i64().unwrap() as isize;
    let u = |k: &str| a[k].as_u64().unwrap() as usize;
    let b = |k: &str| a[k].as_bool().unwrap();
    match op {
        "neg" => x.neg(),
        "abs" => x.abs(),
        "exp" => x.exp(),
        "log" => x.log(),
        "sqrt" => x.sqrt(),
        "rsqrt" => x.rsqrt(),
        "recip" => x.recip(),
        "sin" => x.sin(),
        "cos" => x.cos(),
        "tanh" => x.tanh(),
        "sigmoid" => x.sigmoid(),
        "relu" => x.relu(),
        "gelu" => x.gelu(),
        "erf" => x.erf(),
        "floor" => x.floor(),
        "ceil" => x.ceil(),
        "round" => x.round(),
        "sign" => x.sign(),
        "t" => x.t(),
        "add" => x.add(&xs[1]),
        "sub" => x.sub(&xs[1]),
        "mul" => x.mul(&xs[1]),
        "div" => x.div(&xs[1]),
        "pow" => x.pow(&xs[1]),
        "maximum" => x.maximum(&xs[1]),
        "minimum" => x.minimum(&xs[1]),
        "eq" => x.eq(&xs[1]),
        "ne" => x.ne(&xs[1]),
        "lt" => x.lt(&xs[1]),
        "le" => x.le(&xs[1]),
        "gt" => x.gt(&xs[1]),
        "ge" => x.ge(&xs[1]),
        "matmul" => x.matmul(&xs[1]),
        "add_scalar" => x.add_scalar(f("value")),
        "sub_scalar" => x.sub_scalar(f("value")),
        "mul_scalar" => x.mul_scalar(f("value")),
        "div_scalar" => x.div_scalar(f("value")),
        "powf" => x.powf(f("value")),
        "clamp" => x.clamp(f("min"), f("max")),
        "where_cond" => Tensor::where_cond(x, &xs[1], &xs[2]),
        "sum" => x.sum(&isizes(&a["dims"]), b("keepdim")),
        "mean" => x.mean(&isizes(&a["dims"]), b("keepdim")),
        "max" => x.max(&isizes(&a["dims"]), b("keepdim")),
        "min" => x.min(&isizes(&a["dims"]), b("keepdim")),
        "prod" => x.prod(&isizes(&a["dims"]), b("keepdim")),
        "logsumexp" => x.logsumexp(&isizes(&a["dims"]), b("keepdim")),
        "var" => x.var(&isizes(&a["dims"]), b("unbiased"), b("keepdim")),
        "std" => x.std(&isizes(&a["dims"]), b("unbiased"), b("keepdim")),
        "sum_all" => x.sum_all(),
        "mean_all" => x.mean_all(),
        "argmax" => x.argmax(i("dim"), b("keepdim")),
        "argmin" => x.argmin(i("dim"), b("keepdim")),
        "reshape" => x.reshape(&isizes(&a["shape"])),
        "flatten" => x.flatten(i("start"), i("end")),
        "squeeze" => x.squeeze(i("dim")),
        "unsqueeze" => x.unsqueeze(i("dim")),
        "permute" => x.permute(&isizes(&a["dims"])),
        "transpose" => x.transpose(i("dim0"), i("dim1")),
        "expand" => x.expand(&usizes(&a["shape"])),
        "narrow" => x.narrow(i("dim"), u("start"), u("len")),
        "slice" => x.slice(i("dim"), u("start"), u("end"), u("step")),
        "chunk" => Ok(x.chunk(u("chunks"), i("dim"))?.swap_remove(u("index"))),
        "pad" => {
            let pads: Vec<(usize, usize)> =
                a["pads"].as_array().unwrap().iter().map(pair).collect();
            x.pad(&pads, f("value"))
        }
        "cat" => Tensor::cat(&xs.iter().collect::<Vec<_>>(), i("dim")),
        "stack" => Tensor::stack(&xs.iter().collect::<Vec<_>>(), i("dim")),
        "index_select" => x.index_select(i("dim"), &xs[1]),
        "gather" => x.gather(i("dim"), &xs[1]),
        "scatter_add" => x.scatter_add(i("dim"), &xs[1], &xs[2]),
        "conv2d" => x.conv2d_with(
            &xs[1],
            xs.get(2),
            pair(&a["stride"]),
            pair(&a["padding"]),
            pair(&a["dilation"]),
            u("groups"),
        ),
        "max_pool2d" => {
            x.max_pool2d_with(pair(&a["kernel"]), pair(&a["stride"]), pair(&a["padding"]))
        }
        "avg_pool2d" => x.avg_pool2d_with(
            pair(&a["kernel"]),
            pair(&a["stride"]),
            pair(&a["padding"]),
            b("count_include_pad"),
        ),
        "softmax" => x.softmax(i("dim")),
        "log_softmax" => x.log_softmax(i("dim")),
        other => panic!("no ingot mapping for op {other}"),
    }
}

/// Largest violation of `|got - want| <= atol + rtol * |want|`, as a
/// multiple of the allowance (<= 1 passes).
pub fn worst(got: &[f64], want: &[f64], rtol: f64, atol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "element counts differ");
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / (atol + rtol * w.abs()))
        .fold(0.0, f64::max)
}

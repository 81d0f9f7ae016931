//! Hand-made graphs for tests and benchmarks: a small builder, and the three layer chains of the
//! msf-CNN reference (analysis_optimization.py), which the corpus files paper_*.tflite also are.
//! Weights are zero-filled constants: the planner reads shapes only.

use msf_model::{Activation, DType, Graph, Op, OpKind, Padding, Tensor, TensorId, Window};

/// Builds a batch-1 NHWC int8 graph op by op; `cur` is the tensor the next op reads.
pub struct Builder {
    pub g: Graph,
    pub cur: TensorId,
}

impl Builder {
    pub fn new(name: &str, h: usize, w: usize, c: usize) -> Builder {
        let g = Graph { name: name.into(), tensors: vec![], ops: vec![], inputs: vec![], outputs: vec![], format: msf_model::Format::Tflite };
        let mut b = Builder { g, cur: 0 };
        let t = b.act("input", vec![1, h, w, c]);
        b.g.inputs.push(t);
        b.cur = t;
        b
    }

    fn act(&mut self, name: &str, shape: Vec<usize>) -> TensorId {
        self.g.tensors.push(Tensor { name: name.into(), shape, dtype: DType::Int8, quant: None, data: None });
        self.g.tensors.len() - 1
    }

    fn constant(&mut self, shape: Vec<usize>, dtype: DType) -> TensorId {
        let n: usize = shape.iter().product::<usize>() * dtype.size().unwrap_or(1);
        self.g.tensors.push(Tensor { name: format!("const{}", self.g.tensors.len()), shape, dtype, quant: None, data: Some(vec![0; n]) });
        self.g.tensors.len() - 1
    }

    pub fn hwc(&self, t: TensorId) -> [usize; 3] {
        let s = &self.g.tensors[t].shape;
        [s[1], s[2], s[3]]
    }

    fn push(&mut self, kind: OpKind, inputs: Vec<TensorId>, out_shape: Vec<usize>) -> TensorId {
        let name = format!("op{}", self.g.ops.len());
        let out = self.act(&name, out_shape);
        self.g.ops.push(Op { kind, inputs, outputs: vec![out], name });
        self.cur = out;
        out
    }

    fn window(s: usize) -> Window {
        Window { stride: [s, s], dilation: [1, 1], padding: Padding::Same }
    }

    /// SAME-padded convolution.
    pub fn conv(&mut self, cout: usize, k: usize, s: usize) -> TensorId {
        let [h, w, c] = self.hwc(self.cur);
        let f = self.constant(vec![cout, k, k, c], DType::Int8);
        let bias = self.constant(vec![cout], DType::Int32);
        let x = self.cur;
        self.push(OpKind::Conv2d { window: Self::window(s), activation: Activation::Relu6 }, vec![x, f, bias], vec![1, h.div_ceil(s), w.div_ceil(s), cout])
    }

    /// SAME-padded depthwise convolution (multiplier 1).
    pub fn dw(&mut self, k: usize, s: usize) -> TensorId {
        let [h, w, c] = self.hwc(self.cur);
        let f = self.constant(vec![1, k, k, c], DType::Int8);
        let x = self.cur;
        self.push(
            OpKind::DepthwiseConv2d { window: Self::window(s), depth_multiplier: 1, activation: Activation::Relu6 },
            vec![x, f],
            vec![1, h.div_ceil(s), w.div_ceil(s), c],
        )
    }

    pub fn maxpool(&mut self, k: usize, s: usize) -> TensorId {
        let [h, w, c] = self.hwc(self.cur);
        let x = self.cur;
        let window = Window { stride: [s, s], dilation: [1, 1], padding: Padding::Valid };
        self.push(OpKind::MaxPool2d { filter: [k, k], window, activation: Activation::None }, vec![x], vec![1, (h - k) / s + 1, (w - k) / s + 1, c])
    }

    /// Residual add of `cur` and `skip`.
    pub fn add(&mut self, skip: TensorId) -> TensorId {
        let shape = self.g.tensors[self.cur].shape.clone();
        let x = self.cur;
        self.push(OpKind::Add { activation: Activation::None }, vec![x, skip], shape)
    }

    /// Global average (MEAN over height and width, keep_dims false).
    pub fn mean(&mut self) -> TensorId {
        let [_, _, c] = self.hwc(self.cur);
        let x = self.cur;
        self.push(OpKind::Mean { axes: vec![1, 2], keep_dims: false }, vec![x], vec![1, c])
    }

    /// RESHAPE to [1, h*w*c] (Keras Flatten).
    pub fn flatten(&mut self) -> TensorId {
        let n: usize = self.g.tensors[self.cur].shape.iter().product();
        let x = self.cur;
        self.push(OpKind::Reshape, vec![x], vec![1, n])
    }

    pub fn fc(&mut self, n: usize) -> TensorId {
        let c = *self.g.tensors[self.cur].shape.last().unwrap_or(&1);
        let wt = self.constant(vec![n, c], DType::Int8);
        let x = self.cur;
        self.push(OpKind::FullyConnected { activation: Activation::None, keep_num_dims: false }, vec![x, wt], vec![1, n])
    }

    pub fn softmax(&mut self) -> TensorId {
        let shape = self.g.tensors[self.cur].shape.clone();
        let x = self.cur;
        self.push(OpKind::Softmax { beta: 1.0 }, vec![x], shape)
    }

    pub fn opaque(&mut self, name: &str) -> TensorId {
        let shape = self.g.tensors[self.cur].shape.clone();
        let x = self.cur;
        self.push(OpKind::Opaque { name: name.into() }, vec![x], shape)
    }

    /// The reference's MBConv: 1x1 expand, k x k depthwise, 1x1 project (no residual).
    pub fn mbconv(&mut self, cin: usize, cout: usize, expansion: usize, stride: usize, k: usize) {
        self.conv(cin * expansion, 1, 1);
        self.dw(k, stride);
        self.conv(cout, 1, 1);
    }

    pub fn finish(mut self) -> Graph {
        self.g.outputs.push(self.cur);
        self.g
    }
}

/// (in, out, expansion, stride, kernel) of each MBConv.
type Mb = (usize, usize, usize, usize, usize);

fn chain(name: &str, hw: usize, head: &[(usize, usize, usize, bool)], mbs: &[Mb], tail: Option<usize>) -> Graph {
    let mut b = Builder::new(name, hw, hw, 3);
    for &(cout, k, s, dw) in head {
        if dw {
            b.dw(k, s);
        } else {
            b.conv(cout, k, s);
        }
    }
    for &(cin, cout, e, s, k) in mbs {
        b.mbconv(cin, cout, e, s, k);
    }
    if let Some(c) = tail {
        b.conv(c, 1, 1);
    }
    b.finish()
}

/// MobileNetV2-w0.35 at 144x144, the reference's channel rounding (int(c * 0.35)).
pub fn paper_mbv2_w035_144() -> Graph {
    let w = |c: f64| (c * 0.35) as usize;
    let mb = |i: f64, o: f64, e, s| (w(i), w(o), e, s, 3);
    let mbs = [
        mb(32., 16., 1, 1),
        mb(16., 24., 6, 2),
        mb(24., 24., 6, 1),
        mb(24., 32., 6, 2),
        mb(32., 32., 6, 1),
        mb(32., 32., 6, 1),
        mb(32., 64., 6, 2),
        mb(64., 64., 6, 1),
        mb(64., 64., 6, 1),
        mb(64., 64., 6, 1),
        mb(64., 96., 6, 1),
        mb(96., 96., 6, 1),
        mb(96., 96., 6, 1),
        mb(96., 160., 6, 2),
        mb(160., 160., 6, 1),
        mb(160., 160., 6, 1),
        mb(160., 320., 6, 1),
    ];
    chain("paper_mbv2_w035_144", 144, &[(w(32.), 3, 2, false)], &mbs, Some(w(1280.)))
}

/// MCUNetV2-vww-5fps ("vww5") at 80x80.
pub fn paper_mcunet_vww1_80() -> Graph {
    let mbs = [
        (8, 16, 6, 2, 3),
        (16, 16, 3, 1, 3),
        (16, 16, 3, 1, 3),
        (16, 24, 3, 2, 7),
        (24, 24, 6, 1, 3),
        (24, 24, 5, 1, 5),
        (24, 40, 6, 2, 7),
        (40, 40, 6, 1, 7),
        (40, 48, 6, 1, 3),
        (48, 48, 4, 1, 3),
        (48, 96, 5, 2, 5),
        (96, 96, 5, 1, 3),
        (96, 96, 4, 1, 3),
        (96, 160, 3, 1, 7),
    ];
    chain("paper_mcunet_vww1_80", 80, &[(16, 3, 2, false), (16, 3, 1, true), (8, 1, 1, false)], &mbs, None)
}

/// MCUNet-320KB-ImageNet ("in3") at 176x176.
pub fn paper_mcunet_in3_176() -> Graph {
    let mbs = [
        (8, 16, 3, 2, 7),
        (16, 16, 5, 1, 3),
        (16, 16, 5, 1, 7),
        (16, 16, 4, 1, 5),
        (16, 24, 5, 2, 5),
        (24, 24, 5, 1, 5),
        (24, 24, 5, 1, 5),
        (24, 40, 5, 2, 3),
        (40, 40, 6, 1, 7),
        (40, 40, 4, 1, 5),
        (40, 48, 5, 1, 5),
        (48, 48, 5, 1, 7),
        (48, 48, 5, 1, 3),
        (48, 96, 6, 2, 3),
        (96, 96, 5, 1, 7),
        (96, 96, 4, 1, 3),
        (96, 160, 5, 1, 7),
    ];
    chain("paper_mcunet_in3_176", 176, &[(16, 3, 2, false), (16, 3, 1, true), (8, 1, 1, false)], &mbs, None)
}

/// A non-square net that exercises strided 3x3/5x5/7x7 kernels, a pool and a residual join
/// ending in a global MEAN: the walk simulator and the fused executor's tests both run it.
pub fn mixed_net() -> Graph {
    let mut b = Builder::new("mixed", 17, 13, 2);
    b.conv(4, 3, 2);
    b.dw(7, 1);
    b.conv(6, 1, 1);
    b.dw(5, 2);
    b.maxpool(2, 2);
    b.conv(5, 3, 1);
    let x = b.cur;
    b.conv(10, 1, 1);
    b.dw(3, 1);
    b.conv(5, 1, 1);
    b.add(x);
    b.mean();
    b.finish()
}

/// A small MobileNetV2-like net with residual adds, a global MEAN, FC and softmax.
pub fn residual_net() -> Graph {
    let mut b = Builder::new("residual_net", 32, 32, 3);
    b.conv(8, 3, 2);
    b.mbconv(8, 8, 4, 1, 3);
    let x = b.cur;
    b.mbconv(8, 8, 4, 1, 3);
    b.add(x);
    b.mbconv(8, 16, 4, 2, 3);
    let y = b.cur;
    b.mbconv(16, 16, 4, 1, 5);
    b.add(y);
    b.conv(32, 1, 1);
    b.mean();
    b.fc(10);
    b.softmax();
    b.finish()
}

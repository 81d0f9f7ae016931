use msf_plan::{fused::Block, net::Net, synth};
fn main() {
    let g = synth::paper_mbv2_w035_144();
    let net = Net::new(&g).unwrap();
    let b = Block::new(&net, 0, 12).unwrap();
    let (rows, macs) = b.hcache(&net, 1);
    for (l, &t) in b.internal.iter().enumerate() {
        println!("op {} out {:?} rows {} cols {} bytes {}", l, net.hwc[t], rows[l], b.cols[l], b.ring_bytes(&net, l, rows[l], b.cols[l]));
    }
    println!("macs {macs}");
}

//! Shared by the benches: a deterministic generator of the benchmark documents.
#![allow(dead_code)]

use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*), so runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` documents shaped `{_id, _openid, age, city, tags[2], profile: {score, level}, done}`.
pub fn docs(n: usize) -> Vec<Value> {
    const CITIES: [&str; 5] = ["Shenzhen", "Beijing", "Shanghai", "Guangzhou", "Hangzhou"];
    const TAGS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            json!({
                "_id": format!("doc-{i:06}"),
                "_openid": format!("o-{}", rng.below(1000)),
                "age": rng.below(80) + 10,
                "city": CITIES[rng.below(5) as usize],
                "tags": [TAGS[rng.below(6) as usize], TAGS[rng.below(6) as usize]],
                "profile": {"score": rng.below(10_000) as f64 / 100.0, "level": rng.below(10)},
                "done": rng.below(2) == 0,
            })
        })
        .collect()
}

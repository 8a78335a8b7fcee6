//! The TorchScript source of a hierarchical model's methods (`model/hierarchy/`), unrolled
//! from the same [`Layout`] that builds the tch network: the same operations in the same
//! order, so that `vae.pt` gives the numbers of the Rust model (tests/fast/hierarchy.rs).
//!
//! Methods: `encode(x) -> (mu, logvar)` (every group's posterior, `[n, latent_dim]` each,
//! top-down, at the means of the groups above), `decode_logits(z)`, `decode(z,
//! picture="mode")`, `forward(x) -> (decode(z), mu, logvar)` with z ~ q, `sample(n,
//! temperature=1.0, picture="mode")` (a mixture's `picture`: "mode" or "mean"),
//! `elbo_terms(x, eps) -> (recon, kl_mu, kl_var)` with z = mu + sigma * eps group by group
//! (`eps` `[n, latent_dim]`), `log_ratio(x, eps) -> (recon, log p(z) - log q(z|x))` for
//! importance weights, and `config() -> str`.
use super::pieces::{module_expr, Decoded, TEMPERATURE_CHECK};
use crate::config::ModelConfig;
use crate::model::hierarchy::{BlockSpec, ConvSpec, Layout, H_TOP};

fn conv(c: &ConvSpec, input: &str) -> String {
    let m = module_expr(&c.name);
    let p = c.kernel / 2;
    format!("torch.conv2d({input}, {m}.weight, {m}.bias, [1, 1], [{p}, {p}])")
}

/// Lines computing `output = block(input)` (gelu then convolution, four times).
fn block(b: &BlockSpec, input: &str, output: &str) -> String {
    let mut s = convs(b, &format!("torch.gelu({input})"));
    if b.residual {
        s += &format!("    {output} = {input} + t\n");
    } else {
        s += &format!("    {output} = t\n");
    }
    s
}

/// Lines computing `t`, the block's convolutions from its input's gelu `activated`.
fn convs(b: &BlockSpec, activated: &str) -> String {
    let mut s = String::new();
    for (i, c) in b.convs.iter().enumerate() {
        let x = if i == 0 { activated } else { "torch.gelu(t)" };
        s += &format!("    t = {}\n", conv(c, x));
    }
    s
}

/// `output = block(input)` for a group's prior or posterior block (never residual), its
/// input's gelu given as `activated`: computed once where two blocks read it, as
/// `src/model/hierarchy/net.rs` does.
fn activated_block(b: &BlockSpec, activated: &str, output: &str) -> String {
    debug_assert!(!b.residual, "a group's p and q blocks change the width");
    convs(b, activated) + &format!("    {output} = t\n")
}

fn bottom_up(l: &Layout) -> String {
    let (h, w) = l.image;
    let mut s = format!(
        "def bottom_up(self, x: Tensor) -> List[Tensor]:\n    \
         a = {}\n    acts: List[Tensor] = []\n",
        conv(
            &l.in_conv,
            &format!(
                "torch.reshape(x, [-1, {}, {h}, {w}]) * 2.0 - 1.0",
                l.channels
            )
        )
    );
    let mut blocks = l.encoder_blocks.iter();
    for level in (0..l.sides.len()).rev() {
        for b in blocks.by_ref().take(l.depths[level]) {
            s += &block(b, "a", "a");
        }
        s += "    acts.insert(0, a)\n";
        match level.checked_sub(1).map(|next| l.sides[next]) {
            Some((1, 1)) => s += "    a = torch.mean(a, [2, 3], True)\n",
            Some(_) => s += "    a = torch.avg_pool2d(a, [2, 2], [2, 2], [0, 0], False, True)\n",
            None => {}
        }
    }
    s + "    return acts\n\n"
}

/// The top-down pass. `mode`: 0 z = q's mean + sigma * `given` (noise, `[n, latent_dim]`),
/// 1 q's mean, 2 z = `given`, 3 z ~ p at `temperature`. Returns the decoder's output, the
/// KL's two parts and log p(z) - log q(z|x) (`[n]`; zeros without q), and q's means and
/// log-variances (`[n, latent_dim]`; empty without q).
fn top_down(l: &Layout) -> String {
    let z = l.latent;
    let mut s = format!(
        "def top_down(self, acts: List[Tensor], n: int, mode: int, given: Tensor, temperature: float) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    h_top = {h_top}
    h = torch.expand(h_top, [n, -1, -1, -1])
    kl_mu = torch.zeros([n], dtype=h.dtype, device=h.device)
    kl_var = torch.zeros([n], dtype=h.dtype, device=h.device)
    log_ratio = torch.zeros([n], dtype=h.dtype, device=h.device)
    q_mus: List[Tensor] = []
    q_logvars: List[Tensor] = []
    gelu_acts: List[Tensor] = []
    if mode < 2:
        gelu_acts = [torch.gelu(a) for a in acts]
",
        h_top = module_expr(H_TOP)
    );
    let mut offset = 0;
    for (g, group) in l.groups.iter().enumerate() {
        let (sh, sw) = group.side;
        let len = z * sh * sw;
        if g > 0 && l.groups[g - 1].level != group.level {
            s += &format!("    h = torch.upsample_nearest2d(h, [{sh}, {sw}], None, None)\n");
        }
        s += "    gh = torch.gelu(h)\n";
        s += &activated_block(&group.p, "gh", "p");
        s += &format!(
            "    p_mu = torch.narrow(p, 1, 0, {z})
    p_logvar = torch.narrow(p, 1, {z}, {z})
    if mode == 3:
        z = p_mu + torch.exp(p_logvar * 0.5) * torch.randn_like(p_mu) * temperature
    elif mode == 2:
        z = torch.reshape(torch.narrow(given, 1, {offset}, {len}), [n, {z}, {sh}, {sw}])
    else:
        ghq = torch.cat([gh, gelu_acts[{level}]], 1)
",
            level = group.level
        );
        // The posterior block, indented into the else branch; gelu(cat(h, a)) is
        // cat(gelu(h), gelu(a)).
        for line in activated_block(&group.q, "ghq", "q").lines() {
            s += &format!("    {line}\n");
        }
        s += &format!(
            "        q_mu = torch.narrow(q, 1, 0, {z})
        q_logvar = torch.narrow(q, 1, {z}, {z})
        if mode == 1:
            z = q_mu
            e = torch.zeros_like(q_mu)
        else:
            e = torch.reshape(torch.narrow(given, 1, {offset}, {len}), [n, {z}, {sh}, {sw}])
            z = q_mu + torch.exp(q_logvar * 0.5) * e
        inv_vp = torch.exp(-p_logvar)
        lr = q_logvar - p_logvar
        kl_mu = kl_mu + torch.sum(torch.square(q_mu - p_mu) * inv_vp * 0.5, [1, 2, 3])
        kl_var = kl_var + torch.sum((torch.exp(lr) - 1.0 - lr) * 0.5, [1, 2, 3])
        log_p = torch.sum((torch.square(z - p_mu) * inv_vp + p_logvar) * -0.5, [1, 2, 3])
        log_q = torch.sum((torch.square(z - q_mu) * torch.exp(-q_logvar) + q_logvar) * -0.5, [1, 2, 3])
        log_ratio = log_ratio + log_p - log_q
        q_mus.append(torch.flatten(q_mu, 1))
        q_logvars.append(torch.flatten(q_logvar, 1))
    h = h + torch.narrow(p, 1, {z2}, {w})
    h = h + {proj}
",
            w = l.width,
            proj = conv(&group.z_proj, "z"),
            z2 = 2 * z
        );
        s += &block(&group.res, "h", "h");
        offset += len;
    }
    s += &format!(
        "    out = torch.flatten({}, 1)
    if len(q_mus) == 0:
        return (out, kl_mu, kl_var, log_ratio, torch.zeros([n, 0]), torch.zeros([n, 0]))
    return (out, kl_mu, kl_var, log_ratio, torch.cat(q_mus, 1), torch.cat(q_logvars, 1))

",
        conv(&l.out, "h")
    );
    s
}

/// The whole source: `recon` is the reconstruction's expression of `logits` and `x`,
/// `decoded` how logits become the picture (`pieces.rs`).
pub fn source(config: &ModelConfig, recon: &str, decoded: Decoded) -> String {
    let l = Layout::of(config);
    let latent = l.latent_dim();
    let decode = decoded.call("self.decode_logits(z)", "picture");
    let forward = decoded.call("r[0]", "\"mode\"");
    let sample = decoded.call("self.top_down(acts, n, 3, none, temperature)[0]", "picture");
    let mut s = bottom_up(&l);
    s += &top_down(&l);
    s += &format!(
        r#"def encode(self, x: Tensor) -> Tuple[Tensor, Tensor]:
    x = torch.flatten(x, 1)
    r = self.top_down(self.bottom_up(x), x.size(0), 1, x, 1.0)
    return (r[4], r[5])

def decode_logits(self, z: Tensor) -> Tensor:
    acts: List[Tensor] = []
    return self.top_down(acts, z.size(0), 2, z, 1.0)[0]

def decode(self, z: Tensor, picture: str = "mode") -> Tensor:
    return {decode}

def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    x = torch.flatten(x, 1)
    eps = torch.randn([x.size(0), {latent}], dtype=x.dtype, device=x.device)
    r = self.top_down(self.bottom_up(x), x.size(0), 0, eps, 1.0)
    return ({forward}, r[4], r[5])

def sample(self, n: int, temperature: float = 1.0, picture: str = "mode") -> Tensor:
{TEMPERATURE_CHECK}    acts: List[Tensor] = []
    w = self.decoder.out.weight
    none = torch.zeros([n, 0], dtype=w.dtype, device=w.device)
    return {sample}

def elbo_terms(self, x: Tensor, eps: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    x = torch.flatten(x, 1)
    r = self.top_down(self.bottom_up(x), x.size(0), 0, eps, 1.0)
    logits = r[0]
    recon = {recon}
    return (recon, r[1], r[2])

def log_ratio(self, x: Tensor, eps: Tensor) -> Tuple[Tensor, Tensor]:
    x = torch.flatten(x, 1)
    r = self.top_down(self.bottom_up(x), x.size(0), 0, eps, 1.0)
    logits = r[0]
    recon = {recon}
    return (recon, r[3])

def config(self) -> str:
    return self.config_json
"#
    );
    s
}

"""StyleGAN2 G/E/D: shapes, gradients, StyleSpace edits, layout, partial recompute, conditioning."""

import json

import pytest
import torch
import torch.nn.functional as F

from stylex.errors import StylexError
from stylex.models.generator import Generator, StyleLayout
from stylex.models.layers import modulated_conv2d_reference, upsample2d
from stylex.models.networks import NetworkConfig, build_networks, count_flops_per_image

TINY = NetworkConfig(resolution=16, num_classes=3, z_dim=32, w_dim=32, mapping_layers=2,
                     channel_base=512, channel_max=64, mbstd_group=4)
TINY32 = NetworkConfig(resolution=32, num_classes=2, z_dim=32, w_dim=32, mapping_layers=2,
                       channel_base=512, channel_max=64, mbstd_group=4)




@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    G, E, D = build_networks(TINY)
    # non-zero noise strengths so that noise handling is actually exercised
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
    return G.double().eval(), E.double().eval(), D.double().eval()


def _latent(G, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=g, dtype=torch.float64)
    probs = torch.softmax(torch.randn(n, G.num_classes, generator=g, dtype=torch.float64), 1)
    return G.condition(G.mapping(z), probs), probs


# ----------------------------------------------------------------------------- shapes and grads
@pytest.mark.parametrize("cfg", [TINY, TINY32])
def test_shapes_no_nans_and_every_parameter_gets_a_gradient(cfg):
    torch.manual_seed(1)
    G, E, D = build_networks(cfg)
    G.train(), E.train(), D.train()
    n, k, r = 4, cfg.num_classes, cfg.resolution
    z = torch.randn(n, cfg.z_dim)
    probs = torch.softmax(torch.randn(n, k), 1)
    w = G.mapping(z)
    assert w.shape == (n, cfg.w_dim)
    latent = G.condition(w, probs)
    assert latent.shape == (n, G.c_dim) and G.c_dim == cfg.w_dim + k
    img = G(latent, noise_mode="random")
    assert img.shape == (n, 3, r, r)
    code = E(img)
    assert code.shape == (n, cfg.w_dim)
    score = D(img, probs)
    assert score.shape == (n,)
    for t in (w, img, code, score):
        assert torch.isfinite(t).all()
    (img.square().mean() + code.square().mean() + score.mean()).backward()
    for net_name, net in (("G", G), ("E", E), ("D", D)):
        for name, p in net.named_parameters():
            assert p.grad is not None, f"{net_name}.{name} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{net_name}.{name} has non-finite gradient"
    buffers = dict(G.named_buffers())
    assert "synthesis.b8.conv0.noise_const" in buffers and "mapping.w_avg" in buffers
    assert not any(name.endswith("noise_const") for name, _ in G.named_parameters())
    assert buffers["mapping.w_avg"].abs().sum() > 0  # tracked in training mode


def test_state_dict_key_names():
    G, E, D = build_networks(TINY)
    g_keys, d_keys, e_keys = set(G.state_dict()), set(D.state_dict()), set(E.state_dict())
    for key in ("synthesis.b8.conv0.affine.weight", "synthesis.b8.conv1.affine.bias", "mapping.fc0.weight",
                "synthesis.b4.const", "synthesis.b4.conv1.weight", "synthesis.b16.torgb.affine.weight",
                "synthesis.b16.conv1.noise_strength", "synthesis.b16.conv1.noise_const", "mapping.w_avg"):
        assert key in g_keys, key
    assert "synthesis.b4.conv0.weight" not in g_keys
    for key in ("b16.fromrgb.weight", "b16.conv0.weight", "b8.conv1.weight", "b8.skip.weight",
                "b4.conv.weight", "b4.fc.weight", "b4.out.weight"):
        assert key in d_keys and key in e_keys, key
    assert "b8.skip.bias" not in d_keys and "b8.fromrgb.weight" not in d_keys
    assert D.state_dict()["b4.out.weight"].shape[0] == TINY.num_classes
    assert E.state_dict()["b4.out.weight"].shape[0] == TINY.w_dim
    assert D.state_dict()["b4.conv.weight"].shape[1] == TINY.channels(4) + 1   # mbstd channel
    assert E.state_dict()["b4.conv.weight"].shape[1] == TINY.channels(4)       # no mbstd


def test_state_dict_round_trip(tmp_path):
    G, _, _ = build_networks(TINY)
    path = tmp_path / "g.pt"
    torch.save(G.state_dict(), path)
    G2 = Generator(TINY)
    G2.load_state_dict(torch.load(path, weights_only=True))
    G.eval(), G2.eval()
    latent, _ = _latent(G.float(), 2)
    latent = latent.float().detach()
    assert torch.equal(G(latent, noise_mode="const"), G2(latent, noise_mode="const"))


def test_truncation_and_noise_modes(nets):
    G, _, _ = nets
    z = torch.randn(3, G.z_dim, dtype=torch.float64)
    w = G.mapping(z)
    assert torch.allclose(G.mapping(z, truncation_psi=0.0), G.mapping.w_avg.expand(3, -1))
    assert torch.allclose(G.mapping(z, truncation_psi=0.5), G.mapping.w_avg.lerp(w, 0.5))
    latent, _ = _latent(G, 3)
    a = G(latent, noise_mode="const")
    assert torch.equal(a, G(latent, noise_mode="const"))
    assert not torch.allclose(a, G(latent, noise_mode="random"))
    assert not torch.allclose(a, G(latent, noise_mode="none"))
    with pytest.raises(ValueError):
        G.synthesize(G.styles(latent), noise_mode="bogus")


# ----------------------------------------------------------------------------------- StyleSpace
def test_styles_structure_and_flat_round_trip(nets):
    G, _, _ = nets
    latent, _ = _latent(G, 3)
    styles = G.styles(latent)
    layout = G.layout
    assert len(styles.conv) == layout.num_layers and len(styles.torgb) == layout.num_blocks
    assert [t.shape[1] for t in styles.conv] == layout.widths
    s = styles.flat()
    assert s.shape == (3, layout.num_coords)
    assert torch.equal(styles.with_flat(s).flat(), s)
    # styles are the layers' affine outputs of the shared latent
    assert torch.allclose(styles.conv[0], G.synthesis.b4.conv1.affine(latent))
    assert torch.allclose(styles.conv[1], G.synthesis.b8.conv0.affine(latent))
    assert torch.allclose(styles.torgb[-1], G.synthesis.b16.torgb.affine(latent))
    assert torch.allclose(G.synthesize(styles), G(latent, noise_mode="const"))


def _edit_reference_b8_conv0(G, styles, channel, delta):
    """Recompute block b8 by hand with channel ``channel`` of b8.conv0's style edited by ``delta``
    (reference semantics of an offset: slow per-sample modulated conv), then the rest as usual."""
    syn = G.synthesis
    x4, img4 = syn.b4(None, None, [styles.conv[0]], styles.torgb[0], noise_mode="const")
    layer = syn.b8.conv0
    s = styles.conv[1].clone()
    s[:, channel] += delta
    y = modulated_conv2d_reference(x4, layer.weight, s, up=2, padding=1, resample_filter=layer.resample_filter)
    y = y + layer.noise_const * layer.noise_strength
    y = F.leaky_relu(y + layer.bias.reshape(1, -1, 1, 1), 0.2) * 2 ** 0.5
    x8 = syn.b8.conv1(y, styles.conv[2], noise_mode="const")
    img8 = upsample2d(img4, syn.b8.resample_filter) + syn.b8.torgb(x8, styles.torgb[1])
    return syn.forward_from(2, x8, img8, styles)


def test_offset_edit_equals_with_flat_and_manual_reference(nets):
    G, _, _ = nets
    latent, _ = _latent(G, 3)
    styles = G.styles(latent)
    layout = G.layout
    k = layout.to_flat(1, 5)                       # b8.conv0, channel 5
    assert layout.layers[1].name == "b8.conv0"
    delta = 2.5
    offsets = torch.zeros(3, layout.num_coords, dtype=torch.float64)
    offsets[:, k] = delta
    edited = G.synthesize(styles, offsets)
    s = styles.flat().clone()
    s[:, k] += delta
    assert torch.allclose(edited, G.synthesize(styles.with_flat(s)), atol=1e-12)
    ref = _edit_reference_b8_conv0(G, styles, 5, delta)
    assert torch.allclose(edited, ref, atol=1e-10)
    assert not torch.allclose(edited, G.synthesize(styles))


def test_edit_of_one_sample_leaves_others_untouched(nets):
    G, _, _ = nets
    latent, _ = _latent(G, 4)
    styles = G.styles(latent)
    base = G.synthesize(styles)
    offsets = torch.zeros(4, G.layout.num_coords, dtype=torch.float64)
    offsets[2, G.layout.num_coords - 1] = 5.0
    offsets[2, 3] = -4.0
    edited = G.synthesize(styles, offsets)
    assert torch.allclose(edited[[0, 1, 3]], base[[0, 1, 3]], atol=1e-12)
    assert not torch.allclose(edited[2], base[2])
    # weights unchanged by editing
    assert torch.allclose(G.synthesize(styles), base)


def test_layout_round_trip_and_json(nets):
    G, _, _ = nets
    layout = G.layout
    assert layout == StyleLayout.from_config(TINY)
    blocks = layout.coord_blocks()
    for k in range(layout.num_coords):
        layer, ch = layout.to_layer(k)
        assert layout.to_flat(layer, ch) == k
        assert layout.block_of(k) == layout.layers[layer].block_index == blocks[k]
    with pytest.raises(IndexError):
        layout.to_layer(layout.num_coords)
    js = json.loads(json.dumps(layout.as_json()))
    assert [d["name"] for d in js] == ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1"]
    assert js[0] == {"name": "b4.conv1", "resolution": 4, "width": 64, "start": 0, "block_index": 0}
    assert layout.block_start(1) == 64 and layout.block_start(99) == layout.num_coords


def test_paper_layout_size_without_weights():
    layout = StyleLayout.from_config(NetworkConfig(resolution=256, channel_base=32768, channel_max=512))
    assert layout.num_coords == 5760
    assert layout.num_layers == 13
    assert layout.num_blocks == 7
    assert layout.layers[-1].name == "b256.conv1" and layout.layers[-1].width == 128


@pytest.mark.parametrize("block", [0, 1, 2])
def test_forward_from_equals_full_synthesis(nets, block):
    G, _, _ = nets
    latent, _ = _latent(G, 3)
    styles = G.styles(latent)
    syn = G.synthesis
    states = syn.block_states(styles)
    assert len(states) == G.layout.num_blocks and states[0] == (None, None)
    if block > 0:
        single = syn.block_state(styles, block)
        assert torch.equal(single.x, states[block].x) and torch.equal(single.img, states[block].img)
    offsets = torch.zeros(3, G.layout.num_coords, dtype=torch.float64)
    start = G.layout.block_start(block)
    offsets[0, start] = 3.0
    offsets[1, G.layout.num_coords - 2] = -2.0
    full = G.synthesize(styles, offsets)
    assert torch.allclose(syn.forward_from(block, *states[block], styles, offsets), full, atol=1e-12)
    # shared (batch-1) block input broadcast over edits of one image
    one = styles.index(slice(0, 1)).repeat_interleave(2)
    st1 = syn.block_states(styles.index(slice(0, 1)))
    off2 = offsets[:2].clone()
    off2[1] = 0
    x, img = st1[block]
    out = syn.forward_from(block, x, img, one, off2)
    assert torch.allclose(out, G.synthesize(one, off2), atol=1e-12)


# ----------------------------------------------------------------------------------- E and D
def test_encoder_is_batch_independent(nets):
    _, E, _ = nets
    imgs = torch.randn(5, 3, 16, 16, dtype=torch.float64)
    batch = E(imgs)
    for i in range(5):
        assert torch.allclose(E(imgs[i:i + 1]), batch[i:i + 1], atol=1e-12)
    assert not any(isinstance(m, torch.nn.Module) and type(m).__name__ == "MinibatchStdLayer" for m in E.modules())


def test_discriminator_uses_probs_and_batch(nets):
    _, _, D = nets
    imgs = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    p0 = torch.tensor([[1.0, 0, 0]] * 4, dtype=torch.float64)
    p1 = torch.tensor([[0, 1.0, 0]] * 4, dtype=torch.float64)
    a, b = D(imgs, p0), D(imgs, p1)
    assert not torch.allclose(a, b)
    # projection: linear in the probabilities
    mix = D(imgs, 0.25 * p0 + 0.75 * p1)
    assert torch.allclose(mix, 0.25 * a + 0.75 * b, atol=1e-12)
    # mbstd makes D see the batch: the score of image 0 depends on the others
    other = imgs.clone()
    other[1:] = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    assert not torch.allclose(D(other, p0)[0], a[0])


@pytest.mark.parametrize("n", [1, 3, 5, 6])
def test_discriminator_odd_batches(nets, n):
    _, _, D = nets
    out = D(torch.randn(n, 3, 16, 16, dtype=torch.float64), torch.full([n, 3], 1 / 3, dtype=torch.float64))
    assert out.shape == (n,) and torch.isfinite(out).all()


# ----------------------------------------------------------------------------------- config
@pytest.mark.parametrize("bad", [dict(resolution=48), dict(resolution=2048), dict(num_classes=0),
                                 dict(z_dim=0), dict(channel_base=4)])
def test_config_validation(bad):
    with pytest.raises(StylexError):
        build_networks(NetworkConfig(**{**TINY.__dict__, **bad}))


def test_config_dict_round_trip():
    assert NetworkConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(StylexError):
        NetworkConfig.from_dict({**TINY.to_dict(), "bogus": 1})


def test_flop_count():
    macs = count_flops_per_image(NetworkConfig(resolution=64))
    assert set(macs) == {"G", "mapping", "E", "D"}
    assert macs["G"] > macs["mapping"] > 0 and macs["D"] > 0 and macs["E"] > 0
    G, _, _ = build_networks(TINY)
    assert count_flops_per_image(G) == count_flops_per_image(TINY)
    # dominated by the 3x3 convs: b16.conv1 alone is 16*16*32*32*9 MACs
    assert count_flops_per_image(TINY)["G"] > 16 * 16 * 32 * 32 * 9


def test_fused_and_non_fused_generator_agree(nets):
    G, _, _ = nets
    latent, _ = _latent(G, 3)
    styles = G.styles(latent)
    offsets = torch.randn(3, G.layout.num_coords, dtype=torch.float64)
    a = G.synthesize(styles, offsets)
    try:
        b = G.set_fused_modconv(True).synthesize(styles, offsets)
    finally:
        G.set_fused_modconv(False)
    assert torch.allclose(a, b, atol=1e-10)


def test_bf16_autocast_runs_and_stays_close():
    torch.manual_seed(3)
    G, E, D = build_networks(TINY)
    G.eval()
    z = torch.randn(2, TINY.z_dim)
    probs = torch.softmax(torch.randn(2, TINY.num_classes), 1)
    latent = G.condition(G.mapping(z), probs)
    ref = G(latent, noise_mode="const")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        img = G(latent, noise_mode="const")
        code, score = E(img), D(img, probs)
    assert img.shape == ref.shape and torch.isfinite(img.float()).all()
    assert torch.isfinite(code.float()).all() and torch.isfinite(score.float()).all()
    assert (img.float() - ref).abs().mean() < 0.1 * ref.abs().mean() + 1e-3


def test_path_length_double_backward():
    """The path-length regulariser differentiates d(img)/d(w) again: needs double backward through G."""
    torch.manual_seed(4)
    G, _, _ = build_networks(TINY)
    w = G.mapping(torch.randn(2, TINY.z_dim))
    img = G(G.condition(w, torch.full([2, TINY.num_classes], 1 / TINY.num_classes)), noise_mode="random")
    (grad,) = torch.autograd.grad((img * torch.randn_like(img)).sum(), w, create_graph=True)
    grad.square().sum().backward()
    assert G.synthesis.b16.conv0.weight.grad is not None
    assert torch.isfinite(G.synthesis.b16.conv0.weight.grad).all()
    assert G.mapping.fc0.weight.grad is not None

"""Attention (chapter 04): the fused path against the explicit softmax, MHA/GQA/MQA, the KV cache against a full
forward, the cache's memory, and the MHA-to-GQA conversion."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mini_llama.attention import (
    Attention,
    KVCache,
    causal_mask,
    convert_attention_to_gqa,
    kv_cache_bytes,
    mean_pool_kv_heads,
    naive_attention,
    repeat_kv,
    sdpa_attention,
)
from mini_llama.config import ModelArgs
from mini_llama.rope import apply_rotary_emb, precompute_freqs_cis

FAST = settings(max_examples=25, deadline=None)
TOL = dict(rtol=1e-5, atol=1e-6)


def qkv(bs, n_heads, n_kv_heads, seqlen, kv_len, head_dim):
    "Random queries, keys and values in the (bs, heads, len, hd) layout."
    return (torch.randn(bs, n_heads, seqlen, head_dim), torch.randn(bs, n_kv_heads, kv_len, head_dim),
            torch.randn(bs, n_kv_heads, kv_len, head_dim))


def test_repeat_kv_gives_each_query_head_its_groups_key_value_head():
    x = torch.randn(2, 5, 3, 4)
    assert repeat_kv(x, 1) is x
    assert torch.equal(repeat_kv(x, 4), x.repeat_interleave(4, dim=2))


def test_naive_attention_equals_per_head_softmax_in_float64():
    torch.manual_seed(0)
    q, k, v = qkv(2, 4, 2, 5, 7, 8)
    out = naive_attention(q, k, v)
    for b in range(2):
        for h in range(4):
            qd, kd, vd = q[b, h].double(), k[b, h // 2].double(), v[b, h // 2].double()
            weights = torch.softmax(qd @ kd.T / math.sqrt(8), dim=-1)
            torch.testing.assert_close(out[b, h].double(), weights @ vd, **TOL)


def test_causal_mask_lets_each_query_see_itself_and_earlier_positions():
    assert torch.equal(causal_mask(4, 4), torch.ones(4, 4, dtype=torch.bool).tril())
    assert causal_mask(1, 9).all()  # one new token after 8 cached ones sees all of them
    chunk = causal_mask(2, 5)  # queries at positions 3 and 4
    assert chunk.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    with pytest.raises(ValueError, match="5 queries cannot be the last positions of only kv_len=3 keys"):
        causal_mask(5, 3)


@FAST
@given(bs=st.integers(1, 3), n_kv_heads=st.integers(1, 3), n_rep=st.integers(1, 4), seqlen=st.integers(1, 9),
       cached=st.integers(0, 6), head_dim=st.sampled_from([4, 8, 16, 32]), seed=st.integers(0, 2**16))
def test_sdpa_causal_equals_naive_with_causal_mask(bs, n_kv_heads, n_rep, seqlen, cached, head_dim, seed):
    torch.manual_seed(seed)
    q, k, v = qkv(bs, n_kv_heads * n_rep, n_kv_heads, seqlen, cached + seqlen, head_dim)
    expected = naive_attention(q, k, v, causal_mask(seqlen, cached + seqlen))
    torch.testing.assert_close(sdpa_attention(q, k, v), expected, **TOL)


@FAST
@given(bs=st.integers(1, 3), n_kv_heads=st.integers(1, 3), n_rep=st.integers(1, 4), seqlen=st.integers(1, 9),
       kv_extra=st.integers(0, 6), head_dim=st.sampled_from([4, 8, 16, 32]), additive=st.booleans(),
       per_head=st.booleans(), seed=st.integers(0, 2**16))
def test_sdpa_with_explicit_mask_equals_naive(bs, n_kv_heads, n_rep, seqlen, kv_extra, head_dim, additive, per_head,
                                              seed):
    torch.manual_seed(seed)
    n_heads, kv_len = n_kv_heads * n_rep, seqlen + kv_extra
    q, k, v = qkv(bs, n_heads, n_kv_heads, seqlen, kv_len, head_dim)
    allowed = torch.rand(bs, n_heads if per_head else 1, seqlen, kv_len) < 0.6
    allowed[..., 0] = True  # every query sees at least one key
    mask = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf")) if additive else allowed
    torch.testing.assert_close(sdpa_attention(q, k, v, mask), naive_attention(q, k, v, mask), **TOL)


def test_bool_and_additive_masks_mean_the_same():
    torch.manual_seed(0)
    q, k, v = qkv(1, 2, 2, 6, 6, 8)
    allowed = causal_mask(6, 6)
    additive = torch.zeros(6, 6).masked_fill(~allowed, float("-inf"))
    torch.testing.assert_close(naive_attention(q, k, v, allowed), naive_attention(q, k, v, additive), **TOL)


@pytest.mark.parametrize("attend", [naive_attention, sdpa_attention])
def test_heads_that_do_not_share_evenly_are_an_error(attend):
    q, k, v = qkv(1, 6, 4, 3, 3, 8)
    with pytest.raises(ValueError, match="n_heads=6 query heads cannot share n_kv_heads=4"):
        attend(q, k, v)


def test_attention_args_with_uneven_heads_are_an_error():
    with pytest.raises(ValueError, match="n_heads=6 is not divisible by n_kv_heads=4"):
        Attention(ModelArgs(dim=48, n_heads=6, n_kv_heads=4))


def make_attention(n_heads=4, n_kv_heads=2, dim=32, seed=0):
    torch.manual_seed(seed)
    attn = Attention(ModelArgs(dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads))
    return attn, precompute_freqs_cis(attn.head_dim, 64)


def reference_forward(attn, x, freqs_cis, mask):
    "Attention.forward spelled out with the explicit softmax: the module's twin."
    bs, seqlen, _ = x.shape
    xq = attn.wq(x).view(bs, seqlen, attn.n_heads, attn.head_dim)
    xk = attn.wk(x).view(bs, seqlen, attn.n_kv_heads, attn.head_dim)
    xv = attn.wv(x).view(bs, seqlen, attn.n_kv_heads, attn.head_dim)
    xq, xk = apply_rotary_emb(xq, xk, freqs_cis)
    out = naive_attention(xq.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2), mask)
    return attn.wo(out.transpose(1, 2).reshape(bs, seqlen, -1))


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])  # MHA, GQA, MQA
def test_attention_module_shapes_and_names(n_kv_heads):
    attn, _ = make_attention(n_kv_heads=n_kv_heads)
    assert (attn.n_heads, attn.n_kv_heads, attn.head_dim) == (4, n_kv_heads, 8)
    shapes = {name: tuple(p.shape) for name, p in attn.named_parameters()}
    assert shapes == {"wq.weight": (32, 32), "wk.weight": (8 * n_kv_heads, 32), "wv.weight": (8 * n_kv_heads, 32),
                      "wo.weight": (32, 32)}
    assert all(lin.bias is None for lin in (attn.wq, attn.wk, attn.wv, attn.wo))


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_attention_equals_its_naive_twin_causal(n_kv_heads):
    attn, fc = make_attention(n_kv_heads=n_kv_heads)
    x = torch.randn(2, 11, 32)
    torch.testing.assert_close(attn(x, fc[:11]), reference_forward(attn, x, fc[:11], causal_mask(11, 11)), **TOL)


@pytest.mark.parametrize("n_kv_heads", [4, 2])
def test_attention_explicit_mask_replaces_the_causal_one(n_kv_heads):
    attn, fc = make_attention(n_kv_heads=n_kv_heads)
    x = torch.randn(2, 10, 32)
    doc = torch.tensor([0] * 4 + [1] * 6)  # two documents packed in one row: no attention across them
    packed = causal_mask(10, 10) & (doc[:, None] == doc[None, :])
    out = attn(x, fc[:10], mask=packed)
    torch.testing.assert_close(out, reference_forward(attn, x, fc[:10], packed), **TOL)
    # the first document's outputs do not depend on the second's tokens
    x2 = x.clone()
    x2[:, 4:] = torch.randn(2, 6, 32)
    torch.testing.assert_close(attn(x2, fc[:10], mask=packed)[:, :4], out[:, :4], **TOL)


@FAST
@given(n_kv_heads=st.sampled_from([1, 2, 4]), cuts=st.lists(st.integers(1, 15), min_size=1, max_size=4, unique=True),
       bs=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_cached_decoding_in_chunks_equals_the_full_forward(n_kv_heads, cuts, bs, seed):
    attn, fc = make_attention(n_kv_heads=n_kv_heads, seed=seed)
    x = torch.randn(bs, 16, 32)
    with torch.no_grad():
        full = attn(x, fc[:16])
        cache = KVCache(4, 20, n_kv_heads, attn.head_dim)
        bounds = [0, *sorted(cuts), 16]
        chunks = [attn(x[:, a:b], fc[a:b], cache=cache, start_pos=a) for a, b in zip(bounds, bounds[1:], strict=False)]
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, **TOL)


def test_token_by_token_decoding_with_per_sequence_positions():
    "Rows at different positions (batched generation): each row equals its own full forward."
    attn, fc = make_attention(n_kv_heads=2)
    x = torch.randn(2, 8, 32)
    with torch.no_grad():
        full = attn(x, fc[:8])
        cache = KVCache(2, 8, 2, attn.head_dim)
        steps = [attn(x[:, :1], torch.stack([fc[0:1], fc[0:1]]), cache=cache, start_pos=0)]
        steps += [attn(x[:, t:t + 1], fc[t:t + 1].expand(2, 1, -1), cache=cache, start_pos=t) for t in range(1, 8)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)


def test_kv_cache_is_preallocated_working_memory_not_state():
    cache = KVCache(3, 10, 2, 8, dtype=torch.bfloat16)
    assert cache.cache_k.shape == cache.cache_v.shape == (3, 10, 2, 8)
    assert cache.cache_k.dtype == torch.bfloat16
    assert cache.state_dict() == {} and len(list(cache.buffers())) == 2
    keys, values = cache.update(0, torch.ones(2, 4, 2, 8), 2 * torch.ones(2, 4, 2, 8))
    assert keys.shape == values.shape == (2, 4, 2, 8)
    keys, values = cache.update(4, 3 * torch.ones(2, 1, 2, 8), 4 * torch.ones(2, 1, 2, 8))
    assert keys.shape == (2, 5, 2, 8) and keys[:, 4].eq(3).all() and values[:, :4].eq(2).all()
    assert cache.cache_k[2].eq(0).all()  # the unused row stays untouched


@pytest.mark.parametrize(("start_pos", "shape", "message"), [
    (8, (1, 3, 2, 8), r"positions \[8, 11\) do not fit the cache's max_seq_len=10"),
    (-1, (1, 1, 2, 8), r"positions \[-1, 0\) do not fit the cache's max_seq_len=10"),
    (0, (4, 1, 2, 8), "a batch of 4 sequences exceeds the cache's max_batch_size=3"),
    (0, (1, 1, 4, 8), r"keys \(1, 1, 4, 8\) and values \(1, 1, 4, 8\) do not fit a cache of \(3, 10, 2, 8\)"),
])
def test_kv_cache_rejects_what_does_not_fit(start_pos, shape, message):
    cache = KVCache(3, 10, 2, 8)
    with pytest.raises(ValueError, match=message):
        cache.update(start_pos, torch.zeros(shape), torch.zeros(shape))


@pytest.mark.parametrize("name", ["tiny", "llama2-7b", "llama2-70b"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_kv_cache_bytes_equals_the_buffers_a_model_allocates(name, dtype):
    args = ModelArgs.from_name(name)
    with torch.device("meta"):  # sizes without memory
        caches = [KVCache(2, 512, args.n_kv_heads, args.head_dim, dtype=dtype) for _ in range(args.n_layers)]
    allocated = sum(b.numel() * b.element_size() for c in caches for b in c.buffers())
    assert kv_cache_bytes(args, 512, batch_size=2, bytes_per_elem=dtype.itemsize) == allocated


def test_mean_pool_kv_heads_averages_adjacent_heads():
    torch.manual_seed(0)
    w = torch.randn(6 * 4, 5)  # 6 heads of size 4
    pooled = mean_pool_kv_heads(w, 6, 2)
    assert pooled.shape == (2 * 4, 5)
    torch.testing.assert_close(pooled[:4], (w[0:4] + w[4:8] + w[8:12]) / 3, **TOL)
    torch.testing.assert_close(pooled[4:], (w[12:16] + w[16:20] + w[20:24]) / 3, **TOL)
    assert torch.equal(mean_pool_kv_heads(w, 6, 6), w)


@pytest.mark.parametrize(("rows", "n_heads", "n_kv_heads"), [(24, 6, 4), (24, 5, 1), (24, 6, 0), (24, 6, 12)])
def test_mean_pool_kv_heads_rejects_uneven_groups(rows, n_heads, n_kv_heads):
    with pytest.raises(ValueError, match=f"from n_heads={n_heads} into n_kv_heads={n_kv_heads}"):
        mean_pool_kv_heads(torch.zeros(rows, 3), n_heads, n_kv_heads)


def test_gqa_conversion_is_exact_when_grouped_heads_agree():
    "If the heads of each group already share keys and values, pooling loses nothing."
    attn, fc = make_attention(n_heads=4, n_kv_heads=4)
    with torch.no_grad():
        for lin in (attn.wk, attn.wv):
            heads = lin.weight.view(4, 8, 32)
            heads[1], heads[3] = heads[0], heads[2]  # groups {0, 1} and {2, 3}
    gqa = convert_attention_to_gqa(attn, 2)
    assert (gqa.n_heads, gqa.n_kv_heads, gqa.head_dim) == (4, 2, 8)
    assert gqa.wk.weight.shape == gqa.wv.weight.shape == (16, 32)
    assert torch.equal(gqa.wq.weight, attn.wq.weight) and torch.equal(gqa.wo.weight, attn.wo.weight)
    x = torch.randn(2, 9, 32)
    torch.testing.assert_close(gqa(x, fc[:9]), attn(x, fc[:9]), **TOL)


def test_gqa_conversion_makes_an_independent_trainable_module():
    attn, _ = make_attention(n_heads=4, n_kv_heads=4)
    attn = attn.to(torch.float64)
    gqa = convert_attention_to_gqa(attn, 1)  # all the way to MQA
    assert all(p.requires_grad and p.dtype == torch.float64 and p.device.type == "cpu" for p in gqa.parameters())
    with torch.no_grad():
        gqa.wq.weight.zero_()
    assert attn.wq.weight.abs().sum() > 0
    twice = convert_attention_to_gqa(convert_attention_to_gqa(attn, 2), 1)  # GQA to MQA pools the pooled heads
    torch.testing.assert_close(twice.wk.weight, convert_attention_to_gqa(attn, 1).wk.weight, **TOL)

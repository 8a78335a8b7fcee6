"""1x1 convolutions (oneDNN, through torch.nn.Conv2d) against the same products as torch.matmul,
forward and backward, batch 32, 2 threads: the shapes of the hierarchical model at width 64
(16-channel bottlenecks). Milliseconds a call, after 3 warm-up calls, mean of 30."""
import torch, time
torch.set_num_threads(2)
n=32
def bench(f, *args, reps=30):
    for _ in range(3): f(*args)
    t=time.perf_counter()
    for _ in range(reps): f(*args)
    return (time.perf_counter()-t)/reps*1e3
for (cin, cout, k, side) in [(64,16,1,32),(16,64,1,32),(16,16,3,32),(128,16,1,32),(64,16,1,16),(16,16,3,16)]:
    x = torch.randn(n,cin,side,side, requires_grad=True)
    conv = torch.nn.Conv2d(cin,cout,k,padding=k//2)
    def f_conv():
        y = conv(x); y.backward(torch.ones_like(y))
    t1 = bench(f_conv)
    res = f"{cin}->{cout} k{k} {side}x{side}: conv fwd+bwd {t1:.2f} ms"
    if k == 1:
        W = conv.weight.detach().view(cout,cin).clone().requires_grad_(); b = conv.bias.detach().clone().requires_grad_()
        def f_mm():
            y = torch.matmul(W, x.view(n,cin,-1)) + b.view(1,cout,1); y.backward(torch.ones_like(y))
        res += f"; matmul {bench(f_mm):.2f} ms"
    print(res)

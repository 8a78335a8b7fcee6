import sys, torch, ctypes
lib = ctypes.CDLL(torch.__path__[0] + '/lib/libtorch_cpu.so')
br = int(sys.argv[1])
rc = lib.mkl_serv_cbwr_set(ctypes.c_int(br | 0x10000 * int(sys.argv[2])))
d = torch.load('odd-first-exp.pt')
x = d['in'].flatten().contiguous()
res = []
for name, mode in [('LA', 1), ('HA', 2), ('EP', 3)]:
    for ftz in (0x140000, 0x280000):
        out = torch.empty_like(x)
        lib.vmsExp(ctypes.c_int(x.numel()), ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(out.data_ptr()), ctypes.c_longlong(mode | ftz | 0x100))
        if torch.equal(out[:1280], d['first'].flatten()[:1280]): res.append(name + hex(ftz))
print('branch', br, 'strict', sys.argv[2], 'rc', rc, 'match', res)

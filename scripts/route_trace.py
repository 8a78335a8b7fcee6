"""A gdb script (run by scripts/route.sh): a breakpoint on every tch_vae function of
ROUTE_BINARY that never stops, but writes the function, the stack depth and the caller
to ROUTE_OUT, one line per entry. Inlined functions are not seen."""
import gdb, subprocess, os
binary = os.environ["ROUTE_BINARY"]
out = open(os.environ["ROUTE_OUT"], "w")
class Entry(gdb.Breakpoint):
    def __init__(self, spec, name):
        super().__init__(spec, internal=True)
        self.fn = name
    def stop(self):
        try:
            depth = 0
            f = gdb.newest_frame()
            while f is not None:
                depth += 1
                f = f.older()
            c = gdb.newest_frame().older()
            caller = ""
            while c is not None:
                pc = c.pc()
                if pc in ADDR:
                    caller = ADDR[pc]
                    break
                b = gdb.block_for_pc(pc)
                fn = b.function if b else None
                while b is not None and fn is None:
                    b = b.superblock
                    fn = b.function if b else None
                caller = fn.name if fn else ""
                if caller:
                    break
                c = c.older()
            out.write(f"{self.fn}\t{depth}\t{caller}\n")
        except gdb.error:
            pass
        return False
ADDR = {}
base = None
for line in gdb.execute("info proc mappings", to_string=True).splitlines():
    if line.strip().endswith(os.path.basename(binary)) and base is None:
        base = int(line.split()[0], 16)
syms = subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True, text=True).stdout
n = 0
for line in syms.splitlines():
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[1] in "tT" and parts[2].startswith("tch_vae::"):
        name = parts[2]
        Entry(f"*0x{base + int(parts[0], 16):x}", name)
        n += 1
print(f"{n} breakpoints")

# A/B: server CPU per message under a loadgen load, variants interleaved. Bounded: N iterations.
import subprocess, sys, time, json, os, statistics as st
ROOT='/work/wt/green'
variants={'async':[f'{ROOT}/target/prof/netpoll-echo-orig','--mode','async'],
          'green':[f'{ROOT}/target/prof/netpoll-echo-orig','--mode','green'],
          'green-coloured':[f'{ROOT}/target/prof/netpoll-echo-coloured','--mode','green']}
load=sys.argv[2:]; N=int(sys.argv[1]); port=22000
tick=os.sysconf('SC_CLK_TCK')
def cpu(pid):
    f=open(f'/proc/{pid}/stat').read().rsplit(')',1)[1].split()
    return (int(f[11])+int(f[12]))/tick
res={k:[] for k in variants}
for it in range(N):
    for name,argv in variants.items():
        port+=1; addr=f'127.0.0.1:{port}'
        srv=subprocess.Popen(['taskset','-c','0',argv[0],'--addr',addr]+argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
        import socket
        for _ in range(100):
            try: socket.create_connection(('127.0.0.1',port),timeout=1).close(); break
            except OSError: time.sleep(0.05)
        lg=subprocess.Popen(['taskset','-c','1',f'{ROOT}/target/release/loadgen','--addr',addr]+load,stdout=subprocess.PIPE,stderr=subprocess.PIPE,text=True)
        c0=c1=None
        for line in lg.stderr:
            if 'measure-start' in line: c0=cpu(srv.pid)
            if 'measure-end' in line: c1=cpu(srv.pid)
        out=lg.stdout.read(); lg.wait()
        srv.kill(); srv.wait()
        d=json.loads(out.strip().splitlines()[-1])
        v=(c1-c0)/d['messages']*1e6
        res[name].append(v)
        print(it,name,f"{d['throughput']:.0f} msg/s cpu/msg {v:.2f} us",flush=True)
for k,v in res.items(): print(k,f"median {st.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]")
g=[a/b for a,b in zip(res['green'],res['async'])]; c=[a/b for a,b in zip(res['green-coloured'],res['async'])]
print('green/async per-iteration',f"{st.median(g):.2f} [{min(g):.2f}-{max(g):.2f}]")
print('coloured/async per-iteration',f"{st.median(c):.2f} [{min(c):.2f}-{max(c):.2f}]")

"""Offline fit of the erf/erfc coefficients in src/chainrule/ops/activation.py.

Run with mpmath installed (it comes with the dev extras): python scripts/fit_erf.py. It prints
the Chebyshev/monomial coefficients and their errors against mpmath; not used at run time.
"""

import mpmath as mp, numpy as np
from numpy.polynomial import chebyshev as C
mp.mp.dps = 50
def cheb_fit(f, n, npts):
    k = range(npts)
    nodes = [mp.cos(mp.pi*(kk+mp.mpf(0.5))/npts) for kk in k]
    vals = [f(t) for t in nodes]
    coefs = []
    for j in range(n):
        s = mp.fsum(v*mp.cos(mp.pi*j*(kk+mp.mpf(0.5))/npts) for v, kk in zip(vals, k))
        coefs.append(s*2/npts)
    coefs[0] /= 2
    return coefs
def cheb2mono(c):
    # exact conversion in mp: T_n recurrence
    n = len(c)
    T = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for k in range(2, n):
        a = [mp.mpf(0)] + [2*v for v in T[k-1]]
        b = T[k-2] + [mp.mpf(0)]*(len(a)-len(T[k-2]))
        T.append([x - y for x, y in zip(a, b)])
    mono = [mp.mpf(0)]*n
    for k in range(n):
        for j, v in enumerate(T[k]):
            mono[j] += c[k]*v
    return mono
K = mp.mpf(4); L = mp.mpf('0.5')
def g(s):
    if s == 1: return 1/mp.sqrt(mp.pi)
    x = K*(1+s)/(1-s)
    return mp.erfc(x)*mp.exp(x*x)*(L+x)
c = cheb_fit(g, 25, 100)
m = cheb2mono(c)
print("ERFCX_MONO =", [float(v) for v in m])
# f32: 14-term truncation of the chebyshev then mono
m32 = cheb2mono(c[:14])
print("ERFCX_MONO32 =", [float(v) for v in m32])
# small: erf(x)/x as polynomial in u = x^2 on [0,1], chebyshev in t=2u-1 -> mono in u
def f1(t):
    u = (t+1)/2
    x = mp.sqrt(u)
    return mp.erf(x)/x if x != 0 else 2/mp.sqrt(mp.pi)
c1 = cheb_fit(f1, 13, 60)
# mono in t, then in u: t = 2u - 1 -> expand
mt = cheb2mono(c1)
mu = [mp.mpf(0)]*len(mt)
for k, a in enumerate(mt):
    for j in range(k+1):
        mu[j] += a*mp.binomial(k, j)*(2**j)*((-1)**(k-j))
print("ERF_MONO =", [float(v) for v in mu])
taylor = [2/mp.sqrt(mp.pi)*(-1)**n/(mp.factorial(n)*(2*n+1)) for n in range(13)]
print("taylor   =", [float(v) for v in taylor])
c1b = cheb_fit(f1, 9, 60); mt = cheb2mono(c1b); mu = [mp.mpf(0)]*len(mt)
for k, a in enumerate(mt):
    for j in range(k+1):
        mu[j] += a*mp.binomial(k, j)*(2**j)*((-1)**(k-j))
print("ERF_MONO32 =", [float(v) for v in mu])

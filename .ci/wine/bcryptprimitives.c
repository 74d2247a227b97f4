/*
 * A stand-in bcryptprimitives.dll for Wine 8.0, which has no such DLL.
 *
 * Rust's standard library (1.78 and later) imports ProcessPrng from bcryptprimitives.dll to
 * seed its hash maps, so under Wine 8.0 every Rust .exe fails to load before main.  This DLL
 * exports that one function, backed by BCryptGenRandom with the system-preferred RNG (which
 * Wine implements).  It is built with mingw-w64 by .ci/windows.sh and copied into the Wine
 * prefix's system32; it is never shipped.
 *
 * ProcessPrng's documented contract: fill pbData with cbData random bytes; it always returns
 * TRUE (callers such as Rust's std treat it as infallible), so a failure here aborts loudly
 * instead of handing out unfilled bytes.
 */
#include <windows.h>
#include <bcrypt.h>
#include <stdlib.h>

BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData)
{
    while (cbData > 0) {
        ULONG chunk = cbData > 0x10000000 ? 0x10000000 : (ULONG)cbData;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, pbData, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            abort();
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}

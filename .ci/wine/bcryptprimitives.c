/*
 * A stand-in for Windows' bcryptprimitives.dll, which Debian's Wine 8.0 lacks:
 * Go 1.22 and later get their random numbers from its ProcessPrng and die at
 * start without it. Here ProcessPrng is advapi32's RtlGenRandom (exported as
 * SystemFunction036), which Wine has. Only the Wine CI job (.ci/wine/run)
 * builds and uses it; real Windows has the real DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}

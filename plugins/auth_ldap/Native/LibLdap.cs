using System.Runtime.InteropServices;

namespace Broker.Plugins.AuthLdap.Native;

/// <summary>
/// The few calls of OpenLDAP's libldap (Debian libldap-2.5-0) the plugin makes, as plain P/Invokes (LibraryImport)
/// whose library is the first of its sonames found. This assembly is loaded once, into the host's shared (never unloaded) context
/// (plugin.json's sharedAssemblies), so the resolver is registered once for the broker's life. Why not System.DirectoryServices.Protocols, which wraps the same library:
/// its LdapConnection starts, in its static constructor, a thread that loops for ever in its own code
/// (PartialResultsRetriever), and a thread running a plugin's code keeps the plugin's load context in memory: every
/// reload of the plugin would leak its assemblies and a thread (seen in a heap dump of a reloaded broker). These calls
/// start no thread and hold nothing once a session is closed.
/// </summary>
internal static unsafe partial class LibLdap
{
    public const int Success = 0;
    public const int SizeLimitExceeded = 0x04;
    public const int NoSuchObject = 0x20;
    public const int InvalidCredentials = 0x31;
    public const int ServerDown = -1;
    public const int ConnectError = -11;

    public const int ScopeBase = 0;
    public const int ScopeSubtree = 2;

    public const int OptReferrals = 0x0008;
    public const int OptProtocolVersion = 0x0011;
    public const int OptTimeout = 0x5002;
    public const int OptNetworkTimeout = 0x5005;
    public const int OptXTlsCaCertFile = 0x6002;
    public const int OptXTlsCertFile = 0x6004;
    public const int OptXTlsKeyFile = 0x6005;
    public const int OptXTlsRequireCert = 0x6006;
    public const int OptXTlsNewCtx = 0x600f;
    public const int OptXTlsNever = 0;
    public const int OptXTlsHard = 1;

    /// <summary>struct berval: a length and a pointer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BerVal
    {
        public nuint Length;
        public byte* Value;
    }

    /// <summary>struct timeval.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long Seconds;
        public long Microseconds;

        public static TimeVal From(TimeSpan span) => new() { Seconds = (long)span.TotalSeconds, Microseconds = span.Milliseconds * 1000L + span.Microseconds };
    }

    // The library name the imports below use; Resolve maps it to the first libldap soname found.
    private const string Library = "ldap";

    /// <summary>Maps <see cref="Library"/> to libldap (this assembly is loaded once, never unloaded).</summary>
    static LibLdap() => NativeLibrary.SetDllImportResolver(typeof(LibLdap).Assembly, static (name, _, _) => name == Library ? Load() : IntPtr.Zero);

    [LibraryImport(Library, EntryPoint = "ldap_initialize")]
    public static partial int Initialize(IntPtr* ld, byte* uri);

    [LibraryImport(Library, EntryPoint = "ldap_set_option")]
    public static partial int SetOption(IntPtr ld, int option, void* value);

    [LibraryImport(Library, EntryPoint = "ldap_start_tls_s")]
    public static partial int StartTls(IntPtr ld, IntPtr serverControls, IntPtr clientControls);

    [LibraryImport(Library, EntryPoint = "ldap_sasl_bind_s")]
    public static partial int SaslBind(IntPtr ld, byte* dn, byte* mechanism, BerVal* credential, IntPtr serverControls, IntPtr clientControls, BerVal** serverCredential);

    [LibraryImport(Library, EntryPoint = "ldap_search_ext_s")]
    public static partial int SearchExt(IntPtr ld, byte* baseDn, int scope, byte* filter, byte** attributes, int attributesOnly,
        IntPtr serverControls, IntPtr clientControls, TimeVal* timeout, int sizeLimit, IntPtr* result);

    [LibraryImport(Library, EntryPoint = "ldap_first_entry")]
    public static partial IntPtr FirstEntry(IntPtr ld, IntPtr result);

    [LibraryImport(Library, EntryPoint = "ldap_next_entry")]
    public static partial IntPtr NextEntry(IntPtr ld, IntPtr entry);

    [LibraryImport(Library, EntryPoint = "ldap_get_dn")]
    public static partial byte* GetDn(IntPtr ld, IntPtr entry);

    [LibraryImport(Library, EntryPoint = "ldap_get_values_len")]
    public static partial BerVal** GetValuesLen(IntPtr ld, IntPtr entry, byte* attribute);

    [LibraryImport(Library, EntryPoint = "ldap_value_free_len")]
    public static partial void ValueFreeLen(BerVal** values);

    [LibraryImport(Library, EntryPoint = "ldap_memfree")]
    public static partial void MemFree(void* pointer);

    [LibraryImport(Library, EntryPoint = "ber_bvfree")]
    public static partial void BerBvFree(BerVal* value);

    [LibraryImport(Library, EntryPoint = "ldap_msgfree")]
    public static partial int MsgFree(IntPtr message);

    [LibraryImport(Library, EntryPoint = "ldap_unbind_ext_s")]
    public static partial int UnbindExt(IntPtr ld, IntPtr serverControls, IntPtr clientControls);

    [LibraryImport(Library, EntryPoint = "ldap_err2string")]
    private static partial byte* Err2String(int code);

    /// <summary>libldap's text for a result code.</summary>
    public static string Describe(int code) => Marshal.PtrToStringUTF8((IntPtr)Err2String(code)) ?? $"LDAP error {code}";

    private static IntPtr Load()
    {
        foreach (var name in new[] { "libldap.so.2", "libldap-2.6.so.0", "libldap-2.5.so.0", "libldap-2.4.so.2" })
        {
            if (NativeLibrary.TryLoad(name, out var library))
                return library;
        }
        throw new DllNotFoundException("libldap was not found (Debian: apt-get install libldap-2.5-0)");
    }
}

/// <summary>A libldap call failed: its result code and libldap's text for it.</summary>
public sealed class LdapError(int code, string what) : Exception($"{what}: {LibLdap.Describe(code)} ({code})")
{
    /// <summary>LDAP's (or libldap's, when negative) result code.</summary>
    public int Code { get; } = code;

    /// <summary>The server cannot be reached (or the TLS handshake failed: libldap says "connect error" for both).</summary>
    public bool Unreachable => Code is LibLdap.ServerDown or LibLdap.ConnectError;
}

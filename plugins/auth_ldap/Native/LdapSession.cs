using System.Runtime.InteropServices;
using System.Text;

namespace Broker.Plugins.AuthLdap.Native;

/// <summary>One found entry: its DN and the values of the attributes asked for (as bytes: userPassword is an octet string).</summary>
/// <param name="Dn">The entry's DN.</param>
/// <param name="Attributes">Each attribute asked for that the entry has (names compared ignoring case), with its values.</param>
public sealed record LdapEntry(string Dn, IReadOnlyDictionary<string, List<byte[]>> Attributes);

/// <summary>
/// One libldap connection (an <c>LDAP*</c>), used by one thread at a time: opened with the settings' TLS and timeout
/// settings (per handle, never libldap's process-wide defaults, so two plugin instances with different files do not
/// meet), then bound and searched with the synchronous calls, each limited by <c>timeout</c>.
/// </summary>
internal sealed unsafe class LdapSession : IDisposable
{
    private IntPtr _ld;

    private LdapSession(IntPtr ld) => _ld = ld;

    /// <summary>Opens a session to <paramref name="options"/>' servers; with StartTLS the upgrade is done here.</summary>
    public static LdapSession Open(LdapSettings options)
    {
        var scheme = options.SslEnable ? "ldaps" : "ldap";
        var uris = string.Join(' ', options.Servers.Select(s => $"{scheme}://{(s.Contains(':', StringComparison.Ordinal) ? $"[{s}]" : s)}:{options.Port}"));
        IntPtr ld;
        var uri = Utf8(uris);
        try
        {
            Check(LibLdap.Initialize(&ld, uri), "ldap_initialize " + uris);
        }
        finally
        {
            Marshal.FreeCoTaskMem((IntPtr)uri);
        }
        var session = new LdapSession(ld);
        try
        {
            session.SetInt(LibLdap.OptProtocolVersion, 3, "the protocol version");
            session.SetOption(LibLdap.OptReferrals, null, "referrals off"); // LDAP_OPT_OFF
            var network = LibLdap.TimeVal.From(options.Timeout);
            session.SetOption(LibLdap.OptNetworkTimeout, &network, "the connect timeout");
            session.SetOption(LibLdap.OptTimeout, &network, "the operation timeout");
            if (options.SslEnable || options.SslStartTls)
            {
                if (options.SslCaCertFile.Length > 0)
                    session.SetString(LibLdap.OptXTlsCaCertFile, options.SslCaCertFile, "auth.ldap.ssl.cacertfile");
                if (options.SslCertFile.Length > 0)
                {
                    session.SetString(LibLdap.OptXTlsCertFile, options.SslCertFile, "auth.ldap.ssl.certfile");
                    session.SetString(LibLdap.OptXTlsKeyFile, options.SslKeyFile, "auth.ldap.ssl.keyfile");
                }
                session.SetInt(LibLdap.OptXTlsRequireCert, options.SslVerify ? LibLdap.OptXTlsHard : LibLdap.OptXTlsNever, "auth.ldap.ssl.verify");
                // libldap reads the files when the context is made.
                session.SetInt(LibLdap.OptXTlsNewCtx, 0, "a TLS context from the auth.ldap.ssl.* files");
            }
            if (options.SslStartTls)
                Check(LibLdap.StartTls(ld, IntPtr.Zero, IntPtr.Zero), "StartTLS");
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>A simple bind; LDAP's result code (0, or 49 for a wrong DN or password). Throws on other failures.</summary>
    public int Bind(string dn, string password)
    {
        var dnBytes = Utf8(dn);
        var passwordBytes = Encoding.UTF8.GetBytes(password);
        try
        {
            fixed (byte* secret = passwordBytes)
            {
                var credential = new LibLdap.BerVal { Length = (nuint)passwordBytes.Length, Value = secret };
                LibLdap.BerVal* serverCredential = null;
                var code = LibLdap.SaslBind(_ld, dnBytes, null, &credential, IntPtr.Zero, IntPtr.Zero, &serverCredential);
                if (serverCredential is not null)
                    LibLdap.BerBvFree(serverCredential);
                return code is LibLdap.Success or LibLdap.InvalidCredentials ? code : throw new LdapError(code, "bind");
            }
        }
        finally
        {
            Array.Clear(passwordBytes);
            Marshal.FreeCoTaskMem((IntPtr)dnBytes);
        }
    }

    /// <summary>
    /// The entries under <paramref name="baseDn"/> matching <paramref name="filter"/>, at most <paramref name="sizeLimit"/>;
    /// a base that does not exist finds none.
    /// </summary>
    public List<LdapEntry> Search(string baseDn, int scope, string filter, string[] attributes, TimeSpan timeout, int sizeLimit)
    {
        var strings = new List<IntPtr>();
        IntPtr result = IntPtr.Zero;
        try
        {
            var basePtr = Keep(strings, baseDn);
            var filterPtr = Keep(strings, filter);
            var attrs = stackalloc byte*[attributes.Length + 1];
            for (var i = 0; i < attributes.Length; i++)
                attrs[i] = Keep(strings, attributes[i]);
            attrs[attributes.Length] = null;
            var limit = LibLdap.TimeVal.From(timeout);
            var code = LibLdap.SearchExt(_ld, basePtr, scope, filterPtr, attrs, 0, IntPtr.Zero, IntPtr.Zero, &limit, sizeLimit, &result);
            if (code == LibLdap.NoSuchObject)
                return [];
            if (code is not (LibLdap.Success or LibLdap.SizeLimitExceeded))
                throw new LdapError(code, "search");
            var entries = new List<LdapEntry>();
            for (var entry = LibLdap.FirstEntry(_ld, result); entry != IntPtr.Zero; entry = LibLdap.NextEntry(_ld, entry))
                entries.Add(Read(entry, attributes));
            return entries;
        }
        finally
        {
            if (result != IntPtr.Zero)
                LibLdap.MsgFree(result);
            foreach (var pointer in strings)
                Marshal.FreeCoTaskMem(pointer);
        }
    }

    private LdapEntry Read(IntPtr entry, string[] attributes)
    {
        var dnPtr = LibLdap.GetDn(_ld, entry);
        var dn = Marshal.PtrToStringUTF8((IntPtr)dnPtr) ?? "";
        if (dnPtr is not null)
            LibLdap.MemFree(dnPtr);
        var values = new Dictionary<string, List<byte[]>>(StringComparer.OrdinalIgnoreCase);
        foreach (var attribute in attributes)
        {
            var name = Utf8(attribute);
            try
            {
                var list = LibLdap.GetValuesLen(_ld, entry, name);
                if (list is null)
                    continue;
                var found = new List<byte[]>();
                for (var i = 0; list[i] is not null; i++)
                    found.Add(new ReadOnlySpan<byte>(list[i]->Value, checked((int)list[i]->Length)).ToArray());
                LibLdap.ValueFreeLen(list);
                values[attribute] = found;
            }
            finally
            {
                Marshal.FreeCoTaskMem((IntPtr)name);
            }
        }
        return new LdapEntry(dn, values);
    }

    private void SetInt(int option, int value, string what) => SetOption(option, &value, what);

    private void SetString(int option, string value, string what)
    {
        var text = Utf8(value);
        try
        {
            SetOption(option, text, what);
        }
        finally
        {
            Marshal.FreeCoTaskMem((IntPtr)text);
        }
    }

    private void SetOption(int option, void* value, string what) => Check(LibLdap.SetOption(_ld, option, value), "setting " + what);

    private static byte* Utf8(string text) => (byte*)Marshal.StringToCoTaskMemUTF8(text);

    private static byte* Keep(List<IntPtr> pointers, string text)
    {
        var pointer = Marshal.StringToCoTaskMemUTF8(text);
        pointers.Add(pointer);
        return (byte*)pointer;
    }

    private static void Check(int code, string what)
    {
        if (code != LibLdap.Success)
            throw new LdapError(code, what);
    }

    /// <summary>Unbinds and frees the handle (closing the connection).</summary>
    public void Dispose()
    {
        if (_ld == IntPtr.Zero)
            return;
        LibLdap.UnbindExt(_ld, IntPtr.Zero, IntPtr.Zero);
        _ld = IntPtr.Zero;
    }
}

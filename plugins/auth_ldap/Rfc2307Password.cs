using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Broker.Plugins.AuthLdap;

/// <summary>
/// Checks a password against a stored <c>userPassword</c> value: RFC 2307's <c>{SCHEME}</c> forms as OpenLDAP's
/// <c>slappasswd</c> writes them, or plain text when the value has no scheme. <c>{SHA}</c>, <c>{MD5}</c>,
/// <c>{SHA256}</c>, <c>{SHA512}</c>: base64 of the digest; <c>{SSHA}</c>, <c>{SMD5}</c>, <c>{SSHA256}</c>,
/// <c>{SSHA512}</c>: base64 of the digest of password + salt, then the salt; <c>{CRYPT}</c>: a crypt(3) string
/// (<c>$6$...</c>, <c>$5$...</c>, <c>$y$...</c>, <c>$2b$...</c>, DES), checked by the C library's <c>crypt</c> from
/// libcrypt.so.1 (libxcrypt on Debian), so what it supports is what slapd supports. Every comparison takes the same
/// time whatever the bytes. An unknown scheme or a malformed value matches no password.
/// </summary>
internal static partial class Rfc2307Password
{
    private static readonly Lock CryptLock = new();

    /// <summary>Whether the value needs <c>crypt(3)</c>, which is slow on purpose: callers run it off the I/O threads.</summary>
    public static bool IsSlow(string stored) => Scheme(stored, out _) == "CRYPT";

    /// <summary>Whether <paramref name="password"/> matches <paramref name="stored"/>.</summary>
    public static bool Verify(ReadOnlySpan<byte> password, string stored)
    {
        var scheme = Scheme(stored, out var value);
        return scheme switch
        {
            null => CryptographicOperations.FixedTimeEquals(password, Encoding.UTF8.GetBytes(stored)),
            "SHA" => Digest(HashAlgorithmName.SHA1, password, value, salted: false),
            "SSHA" => Digest(HashAlgorithmName.SHA1, password, value, salted: true),
            "MD5" => Digest(HashAlgorithmName.MD5, password, value, salted: false),
            "SMD5" => Digest(HashAlgorithmName.MD5, password, value, salted: true),
            "SHA256" => Digest(HashAlgorithmName.SHA256, password, value, salted: false),
            "SSHA256" => Digest(HashAlgorithmName.SHA256, password, value, salted: true),
            "SHA512" => Digest(HashAlgorithmName.SHA512, password, value, salted: false),
            "SSHA512" => Digest(HashAlgorithmName.SHA512, password, value, salted: true),
            "CRYPT" => Crypt(password, value),
            _ => false,
        };
    }

    /// <summary>The upper-case scheme of <c>{scheme}value</c>, or null for a value without one.</summary>
    private static string? Scheme(string stored, out string value)
    {
        value = stored;
        if (!stored.StartsWith('{'))
            return null;
        var close = stored.IndexOf('}', StringComparison.Ordinal);
        if (close < 2)
            return null;
        value = stored[(close + 1)..];
        return stored[1..close].ToUpperInvariant();
    }

    private static bool Digest(HashAlgorithmName algorithm, ReadOnlySpan<byte> password, string base64, bool salted)
    {
        byte[] decoded;
        try
        {
            decoded = Convert.FromBase64String(base64.Trim());
        }
        catch (FormatException)
        {
            return false;
        }
        var size = algorithm == HashAlgorithmName.MD5 ? 16 : algorithm == HashAlgorithmName.SHA1 ? 20 : algorithm == HashAlgorithmName.SHA256 ? 32 : 64;
        if (salted ? decoded.Length <= size : decoded.Length != size)
            return false;
        var input = new byte[password.Length + decoded.Length - size];
        password.CopyTo(input);
        decoded.AsSpan(size).CopyTo(input.AsSpan(password.Length));
        Span<byte> digest = stackalloc byte[64];
        var written = CryptographicOperations.HashData(algorithm, input, digest);
        CryptographicOperations.ZeroMemory(input);
        return CryptographicOperations.FixedTimeEquals(digest[..written], decoded.AsSpan(0, size));
    }

    private static bool Crypt(ReadOnlySpan<byte> password, string setting)
    {
        if (password.IndexOf((byte)0) >= 0 || setting.Length == 0)
            return false; // a C string ends at the first NUL: "secret\0anything" must not pass as "secret"
        var phrase = new byte[password.Length + 1];
        password.CopyTo(phrase);
        string? hashed;
        try
        {
            // crypt(3) returns a static buffer: one call at a time.
            lock (CryptLock)
                hashed = Marshal.PtrToStringUTF8(NativeCrypt(phrase, setting));
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            throw new PlatformNotSupportedException("{CRYPT} passwords need libcrypt.so.1 (Debian: libcrypt1)", ex);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(phrase);
        }
        // libxcrypt answers an unusable setting with "*0"/"*1" (or NULL): never equal to a stored value.
        return hashed is { Length: > 2 } && hashed[0] != '*'
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(hashed), Encoding.UTF8.GetBytes(setting));
    }

    [LibraryImport("libcrypt.so.1", EntryPoint = "crypt", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr NativeCrypt(byte[] phrase, string setting);
}

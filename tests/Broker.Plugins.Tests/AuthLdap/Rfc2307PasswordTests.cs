using System.Text;
using Broker.Plugins.AuthLdap;

namespace Broker.Plugins.Tests.AuthLdap;

/// <summary>
/// userPassword values as OpenLDAP's own <c>slappasswd</c> writes them: values it printed once (kept below, random
/// salts and all) and values it makes now; and plain text.
/// </summary>
public sealed class Rfc2307PasswordTests
{
    private static readonly byte[] Password = Encoding.UTF8.GetBytes("pw");

    [Theory]
    [InlineData("{SSHA}M2uAl99qyYTxljFGATfTbP46xnGqLAPq")]
    [InlineData("{MD5}j+TBFFEoHAlKZXjm3b9e7Q==")]
    [InlineData("{SMD5}1/XTiQZB5tQSlENjrf0Q67yzY4E=")]
    [InlineData("{CRYPT}$6$ZRhB169E$d.P48h9oc0LBdKbhf3X6M23P//zm7yJoJ/70VPwCnCoWDlgJdhpF.N5/LX.E6AeC4mZFBxShKXI0iWtfMCtKs.")]
    [InlineData("{ssha}M2uAl99qyYTxljFGATfTbP46xnGqLAPq")] // schemes are case-insensitive (RFC 2307 §5.3)
    [InlineData("pw")]
    public void SlappasswdValues_RightPasswordOnly(string stored)
    {
        Assert.True(Rfc2307Password.Verify(Password, stored));
        Assert.False(Rfc2307Password.Verify("pW"u8, stored));
        Assert.False(Rfc2307Password.Verify([], stored));
    }

    [Theory]
    [InlineData("{SHA}")]
    [InlineData("{SSHA}")]
    [InlineData("{SHA256}")]
    [InlineData("{SSHA512}")]
    [InlineData("{MD5}")]
    [InlineData("{CRYPT}")]
    public void FreshValues_FromSlappasswd(string scheme)
    {
        // SHA-2 schemes need slapd's pw-sha2 module, which slappasswd loads only when asked: computed here instead.
        var stored = scheme switch
        {
            "{SHA256}" => "{SHA256}" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Password)),
            "{SSHA512}" => "{SSHA512}" + Convert.ToBase64String([.. System.Security.Cryptography.SHA512.HashData([.. Password, 1, 2, 3, 4]), 1, 2, 3, 4]),
            _ => Slappasswd(scheme),
        };
        Assert.True(Rfc2307Password.Verify(Password, stored), stored);
        Assert.False(Rfc2307Password.Verify("px"u8, stored), stored);
    }

    [Theory]
    [InlineData("{SHA}not base64!")]
    [InlineData("{SSHA}AAAA")] // shorter than a SHA-1 digest
    [InlineData("{UNKNOWN}pw")]
    [InlineData("{CRYPT}")]
    [InlineData("{CRYPT}*")]
    public void MalformedOrUnknown_MatchesNothing(string stored) => Assert.False(Rfc2307Password.Verify(Password, stored));

    // A C string ends at NUL: crypt("pw\0x") would be crypt("pw").
    [Fact]
    public void Crypt_PasswordWithNul_Refused() =>
        Assert.False(Rfc2307Password.Verify("pw\0x"u8, "{CRYPT}$6$ZRhB169E$d.P48h9oc0LBdKbhf3X6M23P//zm7yJoJ/70VPwCnCoWDlgJdhpF.N5/LX.E6AeC4mZFBxShKXI0iWtfMCtKs."));

    private static string Slappasswd(string scheme)
    {
        const string tool = "/usr/sbin/slappasswd";
        Assert.True(File.Exists(tool), $"{tool} not found: install the Debian package slapd (scripts/test.sh does)");
        List<string> arguments = ["-h", scheme, "-s", "pw"];
        if (scheme == "{CRYPT}")
            arguments.AddRange(["-c", "$6$%.16s"]);
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true })!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output;
    }
}

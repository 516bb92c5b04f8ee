using System.Diagnostics;
using System.Text;
using Broker.Plugins.Auth;

namespace Broker.Plugins.Tests.Auth;

/// <summary>
/// EMQX 4's password hashes (issue 20 item 3), each checked against a value computed by a tool nobody here wrote:
/// <c>openssl dgst</c> for the digests, Python's <c>hashlib.pbkdf2_hmac</c> for pbkdf2, <c>htpasswd -B</c> for bcrypt.
/// </summary>
public sealed class PasswordHashTests
{
    private const string Password = "pa55-wörd";
    private const string Salt = "s4lt";

    [Theory]
    [InlineData("md5", "md5", SaltPosition.None)]
    [InlineData("sha", "sha1", SaltPosition.None)]
    [InlineData("sha256", "sha256", SaltPosition.None)]
    [InlineData("sha512", "sha512", SaltPosition.None)]
    [InlineData("salt,md5", "md5", SaltPosition.Prefix)]
    [InlineData("salt,sha256", "sha256", SaltPosition.Prefix)]
    [InlineData("sha256,salt", "sha256", SaltPosition.Suffix)]
    [InlineData("sha512,salt", "sha512", SaltPosition.Suffix)]
    public async Task Digest_MatchesOpenssl(string spec, string opensslName, SaltPosition salt)
    {
        var input = salt switch
        {
            SaltPosition.Prefix => Salt + Password,
            SaltPosition.Suffix => Password + Salt,
            _ => Password,
        };
        var stored = (await RunAsync("openssl", ["dgst", "-" + opensslName, "-r"], input)).Split(' ')[0];
        var hash = PasswordHash.Parse(spec);

        Assert.True(hash.Verify(Encoding.UTF8.GetBytes(Password), stored, salt == SaltPosition.None ? null : Salt));
        Assert.True(hash.Verify(Encoding.UTF8.GetBytes(Password), stored.ToUpperInvariant(), salt == SaltPosition.None ? null : Salt));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes(Password + "x"), stored, Salt));
        if (salt != SaltPosition.None)
            Assert.False(hash.Verify(Encoding.UTF8.GetBytes(Password), stored, "other"));
        Assert.Equal(stored, hash.Hash(Password, Salt));
    }

    [Theory]
    [InlineData("sha256", 1000, 20)]
    [InlineData("sha", 10, 32)]
    [InlineData("sha512", 2, 64)]
    public async Task Pbkdf2_MatchesPythonHashlib(string mac, int iterations, int dklen)
    {
        var python = mac == "sha" ? "sha1" : mac;
        var stored = (await RunAsync("/usr/bin/python3",
            ["-c", $"import hashlib,sys; print(hashlib.pbkdf2_hmac('{python}', sys.argv[1].encode(), sys.argv[2].encode(), {iterations}, {dklen}).hex())", Password, Salt], null)).Trim();
        var hash = PasswordHash.Parse($"pbkdf2,{mac},{iterations},{dklen}");

        Assert.True(hash.IsSlow);
        Assert.True(hash.Verify(Encoding.UTF8.GetBytes(Password), stored, Salt));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes(Password), stored, "other"));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes("nope"), stored, Salt));
    }

    [Fact]
    public async Task Bcrypt_MatchesHtpasswd()
    {
        // htpasswd -nbB user password prints "user:$2y$05$..."
        var line = (await RunAsync("htpasswd", ["-nbB", "-C", "5", "u", Password], null)).Trim();
        var stored = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..];
        Assert.StartsWith("$2y$", stored, StringComparison.Ordinal);
        var hash = PasswordHash.Parse("bcrypt");

        Assert.True(hash.Verify(Encoding.UTF8.GetBytes(Password), stored, null));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes("nope"), stored, null));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes(Password), "$2y$05$not-a-valid-hash", null));
    }

    [Fact]
    public void Bcrypt_WithSaltColumn_AsEmqxHashpw()
    {
        // EMQX 4 stores bcrypt:hashpw(Password, Salt) with the salt in its own column.
        var salt = BCrypt.Net.BCrypt.GenerateSalt(4);
        var stored = BCrypt.Net.BCrypt.HashPassword(Password, salt);
        var hash = PasswordHash.Parse("salt,bcrypt");

        Assert.True(hash.Verify(Encoding.UTF8.GetBytes(Password), stored, salt));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes("nope"), stored, salt));
    }

    [Fact]
    public void Plain_ComparesBytes()
    {
        var hash = PasswordHash.Parse("plain");
        Assert.True(hash.Verify(Encoding.UTF8.GetBytes(Password), Password, null));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes(Password), Password + " ", null));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes(""), null, null));
    }

    [Theory]
    [InlineData("sha1", "use plain, md5")]
    [InlineData("salt,sha256,salt", "use plain, md5")]
    [InlineData("pbkdf2,sha256,1000", "pbkdf2,<macfun>,<iterations>,<dklen>")]
    [InlineData("pbkdf2,md4,1000,20", "macfun must be one of")]
    [InlineData("pbkdf2,sha256,0,20", "iterations must be a positive number")]
    public void Parse_Invalid_SaysWhatIsAccepted(string spec, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => PasswordHash.Parse(spec));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_WrongLengthOrNotHex_IsFalseNotAnError()
    {
        var hash = PasswordHash.Parse("sha256");
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes(Password), "abc", null));
        Assert.False(hash.Verify(Encoding.UTF8.GetBytes(Password), new string('z', 64), null));
    }

    private static async Task<string> RunAsync(string tool, string[] arguments, string? stdin)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Fail($"{tool} is needed to check the hashes independently: install openssl, python3 and apache2-utils (scripts/test.sh does)");
            throw;
        }
        using (process)
        {
            if (stdin is not null)
                await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
            var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.True(process.ExitCode == 0, $"{tool} failed: {error}");
            return output;
        }
    }
}

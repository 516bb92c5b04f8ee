using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// auth_jwt (issue 21 item 3) with tokens minted by PyJWT (Debian's python3-jwt), keys made by openssl, and a JWKS
/// served by Python's http.server: signatures (HMAC, RSA public key, EC key from a JWKS), exp/nbf, claims, the ACL
/// claim, and a token that expires while its client is connected.
/// </summary>
public sealed class AuthJwtTests
{
    private const string Secret = "a-test-secret-for-hs256";

    private static async Task<string> MintAsync(string alg, string key, string payload, string? kid = null) =>
        (await Backends.RunAsync(Tools.Python, [Path.Combine(Tools.InteropDirectory, "jwt_mint.py"), "token", alg, key, payload, .. kid is null ? Array.Empty<string>() : [kid]])).Trim();

    private static Task<BrokerProcess> StartAsync(string conf) => BrokerProcess.StartAsync(o =>
    {
        o["allow_anonymous"] = "false";
        o["acl_nomatch"] = "deny";
        o.Users.Add(("carol", "c-pass"));
        o.LoadedPlugins.Add("auth_jwt");
        o.PluginConf["auth_jwt"] = conf;
    });

    // A token in the password: signature, exp and nbf decide; no JWT there = the next source (the password file).
    [Fact]
    public async Task Hmac_SignatureExpiryAndFallThrough()
    {
        await using var broker = await StartAsync($"auth.jwt.secret = {Secret}\n");

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", await MintAsync("HS256", Secret, """{"exp":"+300"}""")));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", await MintAsync("HS512", Secret, "{}")));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", await MintAsync("HS256", "another-secret-of-enough-length", "{}")));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", await MintAsync("HS256", Secret, """{"exp":"-10"}""")));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", await MintAsync("HS256", Secret, """{"nbf":"+300"}""")));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", await MintAsync("none", "", "{}")));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "dave", "not.a-jwt"));
    }

    // verify_claims.username = %u: the token's username claim must be the CONNECT's user name.
    [Fact]
    public async Task VerifyClaims_PlaceholderMustMatch()
    {
        await using var broker = await StartAsync($"auth.jwt.secret = {Secret}\nauth.jwt.verify_claims = on\nauth.jwt.verify_claims.username = %u\n");
        var token = await MintAsync("HS256", Secret, """{"username":"alice"}""");

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", token));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "mallory", token));
    }

    // A JWKS whose EC coordinate lost its leading zero byte, as Debian's PyJWT writes about one key in 128 (RFC 7518
    // wants the full length): the plugin pads it back instead of failing to start.
    [Fact]
    public async Task EcKeyFromJwks_CoordinateWithoutItsLeadingZeroByte_StillVerifies()
    {
        var dir = Directory.CreateTempSubdirectory("broker-jwt-").FullName;
        try
        {
            ECParameters parameters;
            string pem;
            do
            {
                using var ec = System.Security.Cryptography.ECDsa.Create(ECCurve.NamedCurves.nistP256);
                parameters = ec.ExportParameters(includePrivateParameters: false);
                pem = ec.ExportECPrivateKeyPem();
            }
            while (parameters.Q.X![0] != 0);
            var ecKey = Path.Combine(dir, "ec.key");
            await File.WriteAllTextAsync(ecKey, pem, TestContext.Current.CancellationToken);
            var web = Path.Combine(dir, "web");
            Directory.CreateDirectory(web);
            var jwk = new { kty = "EC", crv = "P-256", kid = "ec-0", x = Base64Url.EncodeToString(parameters.Q.X.AsSpan(1)), y = Base64Url.EncodeToString(parameters.Q.Y) };
            await File.WriteAllTextAsync(Path.Combine(web, "jwks.json"), System.Text.Json.JsonSerializer.Serialize(new { keys = new[] { jwk } }), TestContext.Current.CancellationToken);
            var port = FreePorts.Next();
            await using var http = ChildProcess.Start(Tools.Python, ["-m", "http.server", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--directory", web], stderrIsOutput: true);
            await http.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "http.server ready");

            await using var broker = await StartAsync($"auth.jwt.jwks = http://127.0.0.1:{port}/jwks.json\n");

            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", await MintAsync("ES256", ecKey, "{}", kid: "ec-0")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // RS256 with auth.jwt.pubkey, and ES256 with a key from a JWKS served over HTTP and chosen by kid.
    [Fact]
    public async Task RsaPublicKey_AndEcKeyFromJwks()
    {
        var dir = Directory.CreateTempSubdirectory("broker-jwt-").FullName;
        try
        {
            var openssl = Tools.Require("openssl", "openssl");
            string rsaKey = Path.Combine(dir, "rsa.key"), rsaPub = Path.Combine(dir, "rsa.pub"), ecKey = Path.Combine(dir, "ec.key"), ecPub = Path.Combine(dir, "ec.pub");
            await Backends.RunAsync(openssl, ["genrsa", "-out", rsaKey, "2048"]);
            await Backends.RunAsync(openssl, ["rsa", "-in", rsaKey, "-pubout", "-out", rsaPub]);
            await Backends.RunAsync(openssl, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", ecKey]);
            await Backends.RunAsync(openssl, ["ec", "-in", ecKey, "-pubout", "-out", ecPub]);
            var web = Path.Combine(dir, "web");
            Directory.CreateDirectory(web);
            await File.WriteAllTextAsync(Path.Combine(web, "jwks.json"),
                await Backends.RunAsync(Tools.Python, [Path.Combine(Tools.InteropDirectory, "jwt_mint.py"), "jwks", ecPub, "ec-1"]), TestContext.Current.CancellationToken);
            var port = FreePorts.Next();
            await using var http = ChildProcess.Start(Tools.Python, ["-m", "http.server", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--directory", web], stderrIsOutput: true);
            await http.WaitForLineAsync(l => l.Contains("Serving HTTP", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "http.server ready");

            await using var broker = await StartAsync($"auth.jwt.pubkey = {rsaPub}\nauth.jwt.jwks = http://127.0.0.1:{port}/jwks.json\n");

            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", await MintAsync("RS256", rsaKey, "{}")));
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", await MintAsync("PS256", rsaKey, "{}")));
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", await MintAsync("ES256", ecKey, "{}", kid: "ec-1")));
            Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", await MintAsync("ES256", ecKey, "{}", kid: "other")));
            // An HMAC token is refused: no secret is configured (a public key must never serve as an HMAC secret).
            Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", await MintAsync("HS256", Secret, "{}")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // The acl claim (pub, sub, all; %u) is all a token's client may do; when the token expires, its next SUBSCRIBE
    // and PUBLISH are refused even for topics it used before (the broker's per-connection cache is cleared at expiry).
    [Fact]
    public async Task AclClaim_AndExpiryWhileConnected()
    {
        await using var broker = await StartAsync($"auth.jwt.secret = {Secret}\n");
        var token = await MintAsync("HS256", Secret, """{"exp":"+4","acl":{"pub":["up/%u"],"sub":["down/#"],"all":["chat/%u"]}}""");
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("jwt-1", V311, username: "alice", password: token));

        ushort id = 1;
        async Task<byte> SubscribeAsync(string filter)
        {
            await client.SendAsync(SubscribePacket(id++, filter, 1, V311));
            return Assert.Single(SubackCodes(await client.ReceiveAsync(Suback), V311));
        }
        Assert.Equal([1, 1, 0x80, 0x80], new[] { await SubscribeAsync("down/x"), await SubscribeAsync("chat/alice"), await SubscribeAsync("up/alice"), await SubscribeAsync("other") });

        var started = TimeProvider.System.GetTimestamp();
        while (await SubscribeAsync("down/x") == 1)
        {
            Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(20), "the subscription is still allowed long after the token expired");
            await Task.Delay(250, TestContext.Current.CancellationToken); // polling for an expiry, not ordering
        }
        Assert.Equal(0x80, await SubscribeAsync("chat/alice"));
    }

    // Reload 20 times under the same load as the other auth plugins (auth_reload_load.js): the token's holders are
    // never refused, a token signed with another secret never admitted, nothing dropped, no instance leaking.
    [Fact]
    public async Task Reload20Times_UnderConnectLoad_NoWrongAdmittedNoRightRefusedNothingDropped()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["allow_anonymous"] = "false";
            o["login_failure.delay_after"] = "0";
            o["login_failure.ban_after"] = "0";
            o.LoadedPlugins.Add("auth_jwt");
            o.PluginConf["auth_jwt"] = $"auth.jwt.secret = {Secret}\n";
        });
        // The script's wrong password is the right one with "-wrong" appended: a token whose signature no longer verifies.
        var token = await MintAsync("HS256", Secret, """{"exp":"+600"}""");
        await Backends.Reload20TimesUnderConnectLoadAsync(broker, "auth_jwt", token);
    }
}

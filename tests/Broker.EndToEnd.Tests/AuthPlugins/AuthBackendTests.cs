using System.Security.Cryptography;
using System.Text;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>One backend as the shared auth tests see it: where it is and how users and ACL rows get into it.</summary>
public interface IAuthBackendServer : IAsyncDisposable
{
    /// <summary>The plugin (<c>auth_redis</c> ...).</summary>
    string Plugin { get; }

    /// <summary>The plugin's .conf lines that point it at this server.</summary>
    string Conf { get; }

    /// <summary>The .conf line of an auth query that also returns the salt.</summary>
    string SaltConf { get; }

    /// <summary>A user with a stored password (as the backend keeps it), an optional salt and superuser flag.</summary>
    Task AddUserAsync(string user, string stored, string? salt = null, bool superuser = false);

    /// <summary>An ACL row allowing <paramref name="user"/> <paramref name="access"/> (1 sub, 2 pub, 3 both) on <paramref name="topic"/>.</summary>
    Task AllowAsync(string user, string topic, int access);

    /// <summary>The server dies (connections cut).</summary>
    Task KillAsync();

    /// <summary>The server comes (back) on the same port.</summary>
    Task StartProcessAsync();

    /// <summary>Removes every user and ACL row the tests add, so a class's shared server starts each test empty.</summary>
    Task ResetAsync();
}

/// <summary>
/// What every auth plugin of issue 20 must show against its real server, driven by mosquitto_pub/sub (and a raw client
/// for exact SUBACK codes): passwords, fall-through, superuser, ACL, injection, failure policy, outage and recovery.
/// </summary>
public abstract class AuthBackendTests<TServer>(SharedBackend<TServer> shared) : IClassFixture<SharedBackend<TServer>>
    where TServer : IAuthBackendServer
{
    /// <summary>A fresh server, for a test that kills or freezes it (the others share <see cref="SharedServerAsync"/>).</summary>
    protected abstract Task<TServer> StartServerAsync();

    /// <summary>The class's one server, emptied of what earlier tests added.</summary>
    protected Task<TServer> SharedServerAsync() => shared.GetAsync(StartServerAsync);

    /// <summary>A server object whose process is not running yet (down at start).</summary>
    protected abstract Task<TServer> NotStartedServerAsync();

    /// <summary>The plugin's default password_hash applied to <paramref name="password"/> (sha256 for SQL, plain for Redis).</summary>
    protected abstract string DefaultStored(string password);

    protected static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    protected internal static Task<BrokerProcess> StartBrokerAsync(IAuthBackendServer server, string extraConf = "", Action<BrokerOptions>? configure = null) =>
        BrokerProcess.StartAsync(o =>
        {
            o["allow_anonymous"] = "false";
            o["acl_nomatch"] = "deny";
            o.LoadedPlugins.Add(server.Plugin);
            o.PluginConf[server.Plugin] = server.Conf + extraConf;
            configure?.Invoke(o);
        });

    // 3.1.1 §3.2.2.3: right password 0x00, wrong 0x04; a user this source does not know falls to the next (the
    // password file); allow_anonymous decides only when every source ignored the client.
    [Fact]
    public async Task Password_RightAccepted_WrongRefused_UnknownFallsToPasswordFile()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", DefaultStored("secret"));
        await using var broker = await StartBrokerAsync(server, configure: o => o.Users.Add(("carol", "c-pass")));

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "wrong"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", null));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "dave", "x"));
        Assert.Equal("not authorised", await Backends.ConnectAsync(broker, null, null));
    }

    // Issue 20 item 3 with hashes made by openssl, Python's hashlib and htpasswd; item 7: a changed .conf takes
    // effect at the next CONNECT after `ctl plugins reload`.
    [Fact]
    public async Task HashFormats_FromIndependentTools_EachAfterReload()
    {
        var server = await SharedServerAsync();
        var formats = new (string Spec, string User, string Stored, string? Salt)[]
        {
            ("sha256,salt", "u-sha256-suffix", await HashTools.OpensslAsync("sha256", "pw1" + "NaCl"), "NaCl"),
            ("salt,md5", "u-md5-prefix", await HashTools.OpensslAsync("md5", "NaCl" + "pw2"), "NaCl"),
            ("sha512", "u-sha512", await HashTools.OpensslAsync("sha512", "pw3"), null),
            ("sha", "u-sha1", await HashTools.OpensslAsync("sha1", "pw4"), null),
            ("bcrypt", "u-bcrypt", await HashTools.HtpasswdBcryptAsync("pw5"), null),
            ("pbkdf2,sha256,1000,20", "u-pbkdf2", await HashTools.Pbkdf2Async("sha256", "pw6", "NaCl", 1000, 20), "NaCl"),
            ("plain", "u-plain", "pw7", null),
        };
        foreach (var (_, user, stored, salt) in formats)
            await server.AddUserAsync(user, stored, salt);
        await using var broker = await StartBrokerAsync(server);
        var confPath = Path.Combine(broker.HomeDirectory, "etc", "plugins", server.Plugin + ".conf");

        for (var i = 0; i < formats.Length; i++)
        {
            var (spec, user, _, _) = formats[i];
            await File.WriteAllTextAsync(confPath, server.Conf + server.SaltConf + $"{PasswordHashKey(server)} = {spec}\n", TestContext.Current.CancellationToken);
            var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", server.Plugin);
            Assert.True(reload.ExitCode == 0, reload.Transcript);

            Assert.Equal("accepted", await Backends.ConnectAsync(broker, user, $"pw{i + 1}"));
            Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, user, $"pw{i + 1}x"));
        }
    }

    // EMQX's superuser: allowed every topic, while an ordinary user gets only its ACL rows (acl_nomatch = deny).
    // 3.1.1 §3.9.3: SUBACK 0x80 for a refused filter.
    [Fact]
    public async Task Superuser_SkipsAcl_OrdinaryUserGetsItsRows()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("root", DefaultStored("r-pass"), superuser: true);
        await server.AddUserAsync("alice", DefaultStored("a-pass"));
        await server.AllowAsync("alice", "sensors/alice/#", 3);
        await server.AllowAsync("alice", "cmd/alice", 1);
        await using var broker = await StartBrokerAsync(server);

        Assert.Equal([0x01, 0x80, 0x01, 0x80], await Backends.SubackAsync(broker, "alice", "a-pass", "sensors/alice/t", "sensors/bob/t", "cmd/alice", "admin/#"));
        Assert.Equal([0x01, 0x01, 0x01], await Backends.SubackAsync(broker, "root", "r-pass", "sensors/bob/t", "admin/#", "#"));

        // What a real subscriber sees: alice's allowed publish arrives, her publish to a topic she may only subscribe to does not.
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-u", "root", "-P", "r-pass", "-t", "#", "-q", "1", "-V", "mqttv311");
        await MosquittoClients.PublishAsync(broker, ["-u", "alice", "-P", "a-pass", "-t", "cmd/alice", "-m", "denied", "-q", "1", "-V", "mqttv311"]);
        await MosquittoClients.PublishAsync(broker, ["-u", "alice", "-P", "a-pass", "-t", "sensors/alice/t", "-m", "allowed", "-q", "1", "-V", "mqttv311"]);
        var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal(("sensors/alice/t", "allowed"), (message.Topic, message.Payload));
    }

    // Issue 20 item 2: values are parameters / arguments, never text the backend parses. Each of these, with alice's
    // password, must be an unknown user (no password file, so "not authorised"), and alice must still work.
    [Fact]
    public async Task Injection_UserNamesAreOnlyUserNames()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", DefaultStored("secret"));
        await using var broker = await StartBrokerAsync(server);

        foreach (var user in new[] { "' or '1'='1", "x\" OR \"1\"=\"1", "*", "{\"$ne\": null}", "alice' --", "%u", "alice FLUSHALL" })
            Assert.Equal("not authorised", await Backends.ConnectAsync(broker, user, "secret"));

        // mosquitto_pub will not send a line break in a user name; the raw client does (3.1.1 return code 5).
        await using (var raw = await RawMqttClient.ConnectAsync(broker))
        {
            await raw.SendAsync(ConnectPacket("inject-nl", V311, username: "alice\r\nFLUSHALL\r\n", password: "secret"));
            Assert.Equal(0x05, ConnackCode(await raw.ReceiveAsync()));
        }
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
    }

    // Issue 20 item 6: fail closed. Down at start: CONNACK Server Unavailable (3.1.1 return code 3), fast; once the
    // server is up the same broker accepts without a restart; killed mid-run: refused again; back: accepted again.
    [Fact]
    public async Task DownAtStart_ThenUp_ThenKilled_ThenBack_WithoutRestart()
    {
        await using var server = await NotStartedServerAsync();
        await using var broker = await StartBrokerAsync(server, $"auth.{PluginKey(server)}.query_timeout = 2s\n");

        var started = TimeProvider.System.GetTimestamp();
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(10), "refusals while the backend is down must not wait for it");

        await server.StartProcessAsync();
        await server.AddUserAsync("alice", DefaultStored("secret"));
        await WaitUntilAsync(broker, "alice", "secret", "accepted");

        await server.KillAsync();
        await WaitUntilAsync(broker, "alice", "secret", "broker unavailable");
        await broker.WaitForLogAsync(l => l.Contains("is unreachable", StringComparison.Ordinal), "the outage logged");

        await server.StartProcessAsync();
        await server.AddUserAsync("alice", DefaultStored("secret")); // a private test server keeps nothing across a kill
        await WaitUntilAsync(broker, "alice", "secret", "accepted");
        await broker.WaitForLogAsync(l => l.Contains("is reachable again", StringComparison.Ordinal), "the recovery logged");
    }

    // on_error = ignore: while the backend is down the next source (the password file) decides.
    [Fact]
    public async Task OnErrorIgnore_DownBackend_NextSourceDecides()
    {
        await using var server = await NotStartedServerAsync();
        await using var broker = await StartBrokerAsync(server, $"auth.{PluginKey(server)}.on_error = ignore\n", o => o.Users.Add(("carol", "c-pass")));

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "secret"));
    }

    // cache_on_outage: a user seen while the backend was up is still checked (right password in, wrong out) while it is down.
    [Fact]
    public async Task CacheOnOutage_KnownUserStillChecked_WhileDown()
    {
        await using var server = await StartServerAsync();
        await server.AddUserAsync("alice", DefaultStored("secret"));
        await using var broker = await StartBrokerAsync(server, $"auth.{PluginKey(server)}.cache_on_outage = 5m\n");
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret", clientId: "c1"));

        await server.KillAsync();

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret", clientId: "c1"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "wrong", clientId: "c1"));
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "bob", "secret", clientId: "c2"));
    }

    // Issue 20 item 7: `ctl plugins reload` 20 times while 200 clients reconnect with the right password, a loop
    // tries a wrong one and 20 connections stay open (MQTT.js, 5.0): no right password refused, no wrong one
    // admitted, no open connection dropped. Reload starts the new instance before it removes the old one.
    [Fact]
    public async Task Reload20Times_UnderConnectLoad_NoWrongAdmittedNoRightRefusedNothingDropped()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("alice", DefaultStored("secret"));
        await Reload20TimesUnderConnectLoadAsync(server);
    }

    /// <summary>The reload-under-load check of every auth plugin, against a server where alice's password is <c>secret</c>.</summary>
    protected internal static async Task Reload20TimesUnderConnectLoadAsync(IAuthBackendServer server)
    {
        await using var broker = await StartBrokerAsync(server, configure: o =>
        {
            o["acl_nomatch"] = "allow"; // the control topic; authorization is not under test here
            o["login_failure.delay_after"] = "0";
            o["login_failure.ban_after"] = "0";
        });
        await Backends.Reload20TimesUnderConnectLoadAsync(broker, server.Plugin, "secret");
    }

    /// <summary>
    /// query_timeout against a server that accepts but does not answer (<paramref name="freeze"/>: SIGSTOP / SIGCONT):
    /// Server Unavailable once the timeout has passed, well before the server thaws; answered again after.
    /// </summary>
    protected static async Task HungServer_RefusedAtTheTimeoutAsync(TServer server, Action<bool> freeze)
    {
        await server.AddUserAsync("alice", "secret");
        await using var broker = await StartBrokerAsync(server, $"auth.{PluginKey(server)}.query_timeout = 1s\n{PasswordHashKey(server)} = plain\n");
        await WaitUntilAsync(broker, "alice", "secret", "accepted");

        freeze(true);
        var started = TimeProvider.System.GetTimestamp();
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(4.5));
        freeze(false);
        await WaitUntilAsync(broker, "alice", "secret", "accepted");
    }

    protected static string PluginKey(IAuthBackendServer server) => server.Plugin[5..];

    /// <summary>EMQX 4 keeps Mongo's hash setting under auth_query.</summary>
    private static string PasswordHashKey(IAuthBackendServer server) =>
        server.Plugin == "auth_mongo" ? "auth.mongo.auth_query.password_hash" : $"auth.{PluginKey(server)}.password_hash";

    /// <summary>Connects until the outcome is <paramref name="expected"/> (a reconnect takes the driver a moment).</summary>
    protected internal static async Task WaitUntilAsync(BrokerProcess broker, string user, string password, string expected)
    {
        var deadline = TimeProvider.System.GetTimestamp();
        string outcome;
        do
        {
            outcome = await Backends.ConnectAsync(broker, user, password);
            if (outcome == expected)
                return;
            await Task.Delay(200, TestContext.Current.CancellationToken); // polling an outcome, not a sleep for ordering
        }
        while (TimeProvider.System.GetElapsedTime(deadline) < TimeSpan.FromSeconds(30));
        Assert.Equal(expected, outcome);
    }

}

/// <summary>Password hashes made by tools nobody here wrote.</summary>
public static class HashTools
{
    public static async Task<string> OpensslAsync(string digest, string input)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, input);
            return (await Backends.RunAsync(Tools.Require("openssl", "openssl"), ["dgst", "-" + digest, "-r", file])).Split(' ')[0];
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static async Task<string> HtpasswdBcryptAsync(string password)
    {
        var line = (await Backends.RunAsync(Tools.Require("htpasswd", "apache2-utils"), ["-nbB", "-C", "5", "u", password])).Trim();
        return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..];
    }

    public static async Task<string> Pbkdf2Async(string mac, string password, string salt, int iterations, int dklen) =>
        (await Backends.RunAsync(Tools.Python,
            ["-c", $"import hashlib,sys; print(hashlib.pbkdf2_hmac('{mac}', sys.argv[1].encode(), sys.argv[2].encode(), {iterations}, {dklen}).hex())", password, salt])).Trim();
}

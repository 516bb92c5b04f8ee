using System.Net;
using System.Text;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// auth_builtin (issue 21 item 4): users and rules added over the management API (HttpClient) and with the real ctl,
/// checked with mosquitto_pub/mosquitto_sub; a file written by Debian's mosquitto_passwd imported and logged in with;
/// the data kept across a restart and a reload; the endpoints gone once the plugin is unloaded.
/// </summary>
public sealed class AuthBuiltinTests
{
    private static Task<BrokerProcess> StartAsync(Action<BrokerOptions>? more = null) => BrokerProcess.StartAsync(o =>
    {
        o["allow_anonymous"] = "false";
        o["acl_nomatch"] = "deny";
        o.Users.Add(("carol", "c-pass")); // etc/passwd: where a user auth_builtin does not know falls through to
        o.LoadedPlugins.Add("auth_builtin");
        o.PluginConf["auth_builtin"] = "auth.builtin.pbkdf2_iterations = 10\n";
        more?.Invoke(o);
    });

    private static Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpClient http, HttpMethod method, string path, string? json = null) =>
        ManagementHttp.SendAsync(http, method, path, json);

    private static async Task<CtlResult> CtlAsync(BrokerProcess broker, params string[] arguments)
    {
        var result = await CtlRunner.RunAsync(broker, arguments);
        Assert.True(result.ExitCode == 0, $"ctl {string.Join(' ', arguments)} exited {result.ExitCode}\n{result.Transcript}");
        return result;
    }

    // Users from REST and from ctl log in with their passwords; a wrong one is refused; a user auth_builtin does not
    // know falls through to etc/passwd; a client id entry authenticates whatever the user name; a change of password
    // and a deletion apply from the next CONNECT.
    [Fact]
    public async Task Users_FromRestAndCtl_RightWrongUnknownClientIdChangeAndDelete()
    {
        await using var broker = await StartAsync();
        using var http = broker.CreateManagementClient();

        var (status, body) = await SendAsync(http, HttpMethod.Post, "api/v4/auth_username", """{"username":"alice","password":"a-pass"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, body.GetProperty("code").GetInt32());
        await CtlAsync(broker, "users", "add", "bob", "--password", "b-pass");
        await CtlAsync(broker, "clientids", "add", "dev-1", "--password", "d-pass");

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "a-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "b-pass"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "bob", "b-pass"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass")); // etc/passwd
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "dave", "d-pass"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "anyone", "d-pass", clientId: "dev-1"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "anyone", "x-pass", clientId: "dev-1"));

        (status, _) = await SendAsync(http, HttpMethod.Put, "api/v4/auth_username/alice", """{"password":"a-new"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "a-pass"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "a-new"));

        var list = await CtlAsync(broker, "users", "list");
        Assert.Contains("alice", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("2 users", list.Stdout, StringComparison.Ordinal);
        (_, body) = await SendAsync(http, HttpMethod.Get, "api/v4/auth_username/bob");
        Assert.Equal("""{"username":"bob","is_superuser":false}""", body.GetProperty("data").GetRawText()); // no hash shown

        await CtlAsync(broker, "users", "del", "bob");
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "bob", "b-pass")); // now unknown: etc/passwd refuses
        var missing = await CtlRunner.RunAsync(broker, "users", "del", "bob");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no user name 'bob'", missing.Stderr, StringComparison.Ordinal);
    }

    // Bad requests are 400 with EMQX's codes and a message naming the problem; unknown entries 404; a duplicate 409.
    [Fact]
    public async Task Rest_Errors()
    {
        await using var broker = await StartAsync();
        using var http = broker.CreateManagementClient();

        async Task AssertErrorAsync(HttpMethod method, string path, string? json, HttpStatusCode status, int code, string message)
        {
            var (actualStatus, body) = await SendAsync(http, method, path, json);
            Assert.Equal(status, actualStatus);
            Assert.Equal(code, body.GetProperty("code").GetInt32());
            Assert.Contains(message, body.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        await AssertErrorAsync(HttpMethod.Post, "api/v4/auth_username", "{ not json", HttpStatusCode.BadRequest, 109, "not JSON");
        await AssertErrorAsync(HttpMethod.Post, "api/v4/auth_username", """{"username":"alice"}""", HttpStatusCode.BadRequest, 107, "\"password\" is missing");
        await AssertErrorAsync(HttpMethod.Post, "api/v4/auth_clientid", """{"password":"p"}""", HttpStatusCode.BadRequest, 107, "\"clientid\" is missing");
        await AssertErrorAsync(HttpMethod.Post, "api/v4/auth_username", """{"username":"alice","password":"p","is_superuser":"yes"}""", HttpStatusCode.BadRequest, 109, "\"is_superuser\" must be true or false");
        await AssertErrorAsync(HttpMethod.Post, "api/v4/acl", """{"username":"alice","topic":"a/#","action":"pub"}""", HttpStatusCode.BadRequest, 107, "\"access\" is missing");
        await AssertErrorAsync(HttpMethod.Post, "api/v4/acl", """{"username":5,"topic":"a","action":"pub","access":"allow"}""", HttpStatusCode.BadRequest, 109, "\"username\" must be a string");
        await AssertErrorAsync(HttpMethod.Post, "api/v4/acl", """[{"topic":"a","action":"pub","access":"allow"},{"topic":"a/#/b","action":"pub","access":"allow"}]""", HttpStatusCode.BadRequest, 108, "[1]: \"topic\" 'a/#/b' is not a valid topic filter");
        await AssertErrorAsync(HttpMethod.Get, "api/v4/auth_username/nobody", null, HttpStatusCode.NotFound, 404, "no user name 'nobody'");
        // A dot in the last segment is part of the name, not a file extension.
        await AssertErrorAsync(HttpMethod.Get, "api/v4/auth_username/alice.smith", null, HttpStatusCode.NotFound, 404, "no user name 'alice.smith'");
        await AssertErrorAsync(HttpMethod.Delete, "api/v4/acl/username/nobody/topic/a%2Fb.c", null, HttpStatusCode.NotFound, 404, "no rule for username 'nobody' on topic 'a/b.c'");
        await AssertErrorAsync(HttpMethod.Put, "api/v4/auth_clientid/nobody", """{"password":"p"}""", HttpStatusCode.NotFound, 404, "no client id 'nobody'");
        await AssertErrorAsync(HttpMethod.Delete, "api/v4/acl/username/nobody/topic/a", null, HttpStatusCode.NotFound, 404, "no rule for username 'nobody' on topic 'a'");
        await AssertErrorAsync(HttpMethod.Get, "api/v4/auth_username?_limit=0", null, HttpStatusCode.BadRequest, 108, "_limit");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Post, "api/v4/auth_username", """{"username":"alice","password":"p"}""")).Status);
        await AssertErrorAsync(HttpMethod.Post, "api/v4/auth_username", """{"username":"alice","password":"p"}""", HttpStatusCode.Conflict, 108, "exists already");
        // Nothing of the failed requests was stored.
        var (_, rules) = await SendAsync(http, HttpMethod.Get, "api/v4/acl");
        Assert.Equal(0, rules.GetProperty("meta").GetProperty("count").GetInt32());
        // The API's credentials are required, as for the API's own endpoints.
        using var anonymous = new HttpClient { BaseAddress = broker.ManagementUrl };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/v4/auth_username", TestContext.Current.CancellationToken)).StatusCode);
    }

    // The rules of the client id, then the user name, then $all, each in the order added: a deny added before an allow
    // wins; %u is the client's user name; a superuser is allowed everything. A connection that stays open follows each
    // change from its next SUBSCRIBE and PUBLISH.
    [Fact]
    public async Task AclRules_OrderAllPlaceholdersSuperuser_AndChangesReachAConnectedClient()
    {
        await using var broker = await StartAsync();
        using var http = broker.CreateManagementClient();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Post, "api/v4/auth_username",
            """[{"username":"alice","password":"a-pass"},{"username":"root","password":"r-pass","is_superuser":true}]""")).Status);
        var (status, body) = await SendAsync(http, HttpMethod.Post, "api/v4/acl", """
            [{"username":"alice","topic":"secret/#","action":"pubsub","access":"deny"},
             {"username":"alice","topic":"secret/open","action":"sub","access":"allow"},
             {"topic":"users/%u/#","action":"pubsub","access":"allow"}]
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("$all", body.GetProperty("data")[2].GetProperty("all").GetString());
        Assert.Equal("ok", body.GetProperty("data")[2].GetProperty("result").GetString());
        await CtlAsync(broker, "acl", "rules", "add", "--clientid", "alice-box", "secret/open", "sub", "allow");

        await using var alice = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("alice-1", V5, username: "alice", password: "a-pass"));
        ushort id = 1;
        async Task<byte> SubscribeAsync(RawMqttClient client, string filter)
        {
            await client.SendAsync(SubscribePacket(id++, filter, 1, V5));
            return Assert.Single(SubackCodes(await client.ReceiveAsync(Suback), V5));
        }
        Assert.Equal(0x87, await SubscribeAsync(alice, "secret/open")); // the deny was added first
        Assert.Equal(1, await SubscribeAsync(alice, "users/alice/inbox")); // $all with %u
        Assert.Equal(0x87, await SubscribeAsync(alice, "users/bob/inbox")); // %u is alice: no rule, acl_nomatch = deny
        // The client id's rules come before the user name's.
        await using (var box = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("alice-box", V5, username: "alice", password: "a-pass")))
            Assert.Equal(1, await SubscribeAsync(box, "secret/open"));
        await using (var root = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("root-1", V5, username: "root", password: "r-pass")))
            Assert.Equal(1, await SubscribeAsync(root, "secret/#"));

        // Changes while alice stays connected: the deny goes, so the allow after it decides.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(http, HttpMethod.Delete, "api/v4/acl/username/alice/topic/secret%2F%23")).Status);
        Assert.Equal(1, await SubscribeAsync(alice, "secret/open"));
        await CtlAsync(broker, "acl", "rules", "add", "--username", "alice", "users/%u/#", "sub", "deny");
        Assert.Equal(0x87, await SubscribeAsync(alice, "users/alice/inbox"));

        // PUBLISH with mosquitto_pub (MQTT 5, QoS 1, one message per stdin line, connected throughout): PUBACK 0x87 once
        // a rule denies it. A superuser's mosquitto_sub sees only what was allowed.
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-V", "5", "-u", "root", "-P", "r-pass", "-t", "users/#", "-q", "1");
        await using var pub = ChildProcess.Start(Tools.Require("stdbuf", "coreutils"),
            ["-oL", Tools.Require("mosquitto_pub", "mosquitto-clients"), "-h", broker.Host, "-p", broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "-d", "-V", "5", "-q", "1", "-i", "alice-pub", "-u", "alice", "-P", "a-pass", "-t", "users/alice/out", "-l"], redirectStdin: true);
        async Task<string> PublishAsync(string line, int mid)
        {
            await pub.StandardInput.WriteLineAsync(line);
            await pub.StandardInput.FlushAsync(TestContext.Current.CancellationToken);
            var puback = await pub.WaitForLineAsync(l => l.Contains($"received PUBACK (Mid: {mid},", StringComparison.Ordinal), MosquittoClients.Timeout, $"PUBACK {mid}");
            return puback[(puback.IndexOf("RC:", StringComparison.Ordinal) + 3)..].TrimEnd(')');
        }
        Assert.Equal("0", await PublishAsync("first", 1));
        Assert.Equal("first", (await MosquittoClients.MessagesAsync(watcher, 1))[0].Payload);
        await CtlAsync(broker, "acl", "rules", "add", "--username", "alice", "users/%u/#", "pub", "deny");
        Assert.Equal("135", await PublishAsync("second", 2));
        await CtlAsync(broker, "acl", "rules", "del", "--username", "alice", "users/%u/#");
        Assert.Equal("0", await PublishAsync("third", 3));
        Assert.Equal(["first", "third"], (await MosquittoClients.MessagesAsync(watcher, 2)).Select(m => m.Payload));

        var rules = await CtlAsync(broker, "acl", "rules", "list", "--username", "alice");
        Assert.Contains("secret/open", rules.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 rule", rules.Stdout, StringComparison.Ordinal);
    }

    // The data is in data/plugins/auth_builtin/: a restart and a reload find it; unloading removes the endpoints (404)
    // and the users with them, and ctl says to load the plugin.
    [Fact]
    public async Task Data_SurvivesRestartAndReload_EndpointsGoneAfterUnload()
    {
        var first = await StartAsync();
        BrokerProcess broker;
        await using (first)
        {
            await CtlAsync(first, "users", "add", "alice", "--password", "a-pass", "--superuser");
            await CtlAsync(first, "acl", "rules", "add", "--all", "open/#", "pubsub", "allow");
            broker = await first.RestartAsync();
        }
        await using var restarted = broker;
        using var http = broker.CreateManagementClient();

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "a-pass"));
        var (_, body) = await SendAsync(http, HttpMethod.Get, "api/v4/auth_username/alice");
        Assert.True(body.GetProperty("data").GetProperty("is_superuser").GetBoolean());
        Assert.Equal(1, (await SendAsync(http, HttpMethod.Get, "api/v4/acl/$all")).Body.GetProperty("meta").GetProperty("count").GetInt32());
        var plugins = (await SendAsync(http, HttpMethod.Get, "api/v4/plugins/auth_builtin")).Body.GetProperty("data")[0].GetProperty("endpoints").GetRawText();
        Assert.Contains("GET /api/v4/auth_username/{username}", plugins, StringComparison.Ordinal);

        await CtlAsync(broker, "plugins", "reload", "auth_builtin");
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "a-pass"));
        Assert.Equal(1, (await SendAsync(http, HttpMethod.Get, "api/v4/acl")).Body.GetProperty("meta").GetProperty("count").GetInt32());

        await CtlAsync(broker, "plugins", "unload", "auth_builtin");
        var (status, gone) = await SendAsync(http, HttpMethod.Get, "api/v4/auth_username");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(404, gone.GetProperty("code").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(http, HttpMethod.Post, "api/v4/acl", """{"topic":"a","action":"pub","access":"allow"}""")).Status);
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "a-pass")); // etc/passwd does not know her
        var ctl = await CtlRunner.RunAsync(broker, "users", "list");
        Assert.Equal(1, ctl.ExitCode);
        Assert.Contains("not loaded", ctl.Stderr, StringComparison.Ordinal);
        Assert.Contains("ctl plugins load auth_builtin", ctl.Stderr, StringComparison.Ordinal);
    }

    // A file written by the real mosquitto_passwd ($7$, and $6$ with -H sha512) imported with ctl: its users log in with
    // mosquitto_pub. etc/passwd's format through the REST endpoint; a bad line imports nothing.
    [Fact]
    public async Task Import_MosquittoPasswdAndEtcPasswdFiles_UsersLogIn()
    {
        var mosquittoPasswd = Tools.Require("mosquitto_passwd", "mosquitto");
        var dir = Directory.CreateTempSubdirectory("auth-builtin-import-").FullName;
        try
        {
            var file = Path.Combine(dir, "mosquitto.passwd");
            await Backends.RunAsync(mosquittoPasswd, ["-c", "-b", file, "mona", "m-pass"]);
            await Backends.RunAsync(mosquittoPasswd, ["-H", "sha512", "-b", file, "sid", "s-pass"]);
            Assert.StartsWith("mona:$7$", await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken), StringComparison.Ordinal);

            await using var broker = await StartAsync();
            var imported = await CtlAsync(broker, "users", "import", file, "--format", "mosquitto");
            Assert.Contains("2 user(s) added, 0 updated", imported.Stdout, StringComparison.Ordinal);
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "mona", "m-pass"));
            Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "mona", "s-pass"));
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "sid", "s-pass"));

            // etc/passwd's format, as `broker passwd` writes it, over REST.
            var passwd = Path.Combine(dir, "passwd");
            await Backends.RunAsync("dotnet", [BrokerProcess.BrokerDll, "passwd", "-f", passwd, "add", "erin", "-p", "e-pass"]);
            using var http = broker.CreateManagementClient();
            var request = JsonSerializer.Serialize(new Dictionary<string, string> { ["format"] = "passwd", ["content"] = await File.ReadAllTextAsync(passwd, TestContext.Current.CancellationToken) });
            var (status, body) = await SendAsync(http, HttpMethod.Post, "api/v4/auth_username/import", request);
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(1, body.GetProperty("data").GetProperty("added").GetInt32());
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "erin", "e-pass"));

            (status, body) = await SendAsync(http, HttpMethod.Post, "api/v4/auth_username/import", """{"format":"auto","content":"zoe:$7$101$AAAA$AAAA\nmona:plain\n"}""");
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.StartsWith("line 1 (zoe): the hash is 3 bytes", body.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(http, HttpMethod.Get, "api/v4/auth_username/zoe")).Status);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // A data file that cannot be read stops the plugin, naming the file; the broker and etc/passwd serve on.
    [Fact]
    public async Task CorruptDataFile_PluginFailsNamingIt_BrokerServes()
    {
        var corrupt = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(corrupt, """{"version": 1, "auth_username": [{"username": "alice", "password": "plain"}]}""", TestContext.Current.CancellationToken);
            await using var broker = await StartAsync(o => o.HomeContent["data/plugins/auth_builtin/auth_builtin.json"] = corrupt);

            var list = await CtlAsync(broker, "plugins", "list");
            var line = Assert.Single(list.Stdout.Split('\n'), l => l.StartsWith("auth_builtin", StringComparison.Ordinal));
            Assert.Contains("failed", line, StringComparison.Ordinal);
            Assert.Contains("auth_builtin.json: auth_username[0] (alice): \"password\" is not a password hash", line, StringComparison.Ordinal);
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass"));
        }
        finally
        {
            File.Delete(corrupt);
        }
    }
}

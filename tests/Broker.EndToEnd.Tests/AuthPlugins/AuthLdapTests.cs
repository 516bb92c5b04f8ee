using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.AuthPlugins.AuthBackendTests<Broker.EndToEnd.Tests.AuthPlugins.SlapdServer>;

namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// auth_ldap (issue 21 item 1) against a private Debian slapd loaded with EMQX's mqttUser schema, entries added with
/// ldapadd and password values made by slappasswd, clients driven by mosquitto_pub/sub (and MQTT.js for the reload
/// under load). The same categories as the other auth plugins; not derived from <see cref="AuthBackendTests{TServer}"/>
/// because LDAP has no password_hash (RFC 2307 values name their own scheme) and EMQX calls its timeout <c>timeout</c>.
/// </summary>
public sealed class AuthLdapTests(SharedBackend<SlapdServer> shared) : IClassFixture<SharedBackend<SlapdServer>>
{
    /// <summary>The class's one slapd, <c>ou=devices</c> emptied (tests that kill, freeze or need TLS start their own).</summary>
    private Task<SlapdServer> SharedServerAsync() => shared.GetAsync(() => SlapdServer.StartAsync());

    // Every RFC 2307 scheme slappasswd writes (and plain): right password in, wrong and missing out; a user the
    // directory does not have falls to the password file; isEnabled FALSE refuses even the right password.
    [Fact]
    public async Task Passwords_PlainAndRfc2307FromSlappasswd_UnknownFallsToPasswordFile()
    {
        var server = await SharedServerAsync();
        var users = new (string User, string Stored)[]
        {
            ("u-plain", "pw-plain"),
            ("u-sha", await SlapdServer.SlappasswdAsync("{SHA}", "pw-sha")),
            ("u-ssha", await SlapdServer.SlappasswdAsync("{SSHA}", "pw-ssha")),
            ("u-md5", await SlapdServer.SlappasswdAsync("{MD5}", "pw-md5")),
            ("u-smd5", await SlapdServer.SlappasswdAsync("{SMD5}", "pw-smd5")),
            // crypt(3) through libcrypt (libxcrypt): SHA-512 crypt, as slappasswd makes it with glibc's format.
            ("u-crypt", await SlapdServer.SlappasswdAsync("{CRYPT}", "pw-crypt", "$6$%.16s")),
        };
        foreach (var (user, stored) in users)
            await server.AddEntryAsync(user, stored);
        await server.AddEntryAsync("u-disabled", "pw-disabled", "isEnabled: FALSE");
        await using var broker = await StartBrokerAsync(server, configure: o => o.Users.Add(("carol", "c-pass")));

        foreach (var (user, _) in users)
        {
            var password = "pw-" + user[2..];
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, user, password));
            Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, user, password + "x"));
        }
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "u-plain", null));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "u-disabled", "pw-disabled"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "dave", "x"));
        Assert.Equal("not authorised", await Backends.ConnectAsync(broker, null, null));
    }

    // isSuperuser TRUE: every topic. Otherwise mqttSubscriptionTopic / mqttPublishTopic / mqttPubSubTopic allow, and a
    // topic none lists is left to the next source: acl_nomatch decides (deny here, allow in the second broker), as
    // EMQX 4's emqx_acl_ldap answers "ok" (no opinion) when no filter matches. 3.1.1 §3.9.3: SUBACK 0x80 refused.
    [Fact]
    public async Task SuperuserAndTopicAttributes_UnlistedTopicLeftToAclNomatch()
    {
        var server = await SharedServerAsync();
        await server.AddUserAsync("root", "r-pass", superuser: true);
        await server.AddEntryAsync("alice", "a-pass", "mqttPublishTopic: up/alice/#", "mqttPubSubTopic: sensors/%u/#");
        await server.AllowAsync("alice", "cmd/alice", 1); // ldapmodify: add mqttSubscriptionTopic
        await using (var broker = await StartBrokerAsync(server))
        {
            Assert.Equal([0x01, 0x80, 0x01, 0x80, 0x80], await Backends.SubackAsync(broker, "alice", "a-pass", "cmd/alice", "up/alice/x", "sensors/alice/t", "sensors/bob/t", "admin/#"));
            Assert.Equal([0x01, 0x01], await Backends.SubackAsync(broker, "root", "r-pass", "sensors/bob/t", "#"));

            // What a real subscriber sees: alice's allowed publishes arrive, the one to a topic she may only subscribe to does not.
            await using var sub = await MosquittoClients.SubscribeAsync(broker, "-u", "root", "-P", "r-pass", "-t", "#", "-q", "1", "-V", "mqttv311");
            await MosquittoClients.PublishAsync(broker, ["-u", "alice", "-P", "a-pass", "-t", "cmd/alice", "-m", "denied", "-q", "1", "-V", "mqttv311"]);
            await MosquittoClients.PublishAsync(broker, ["-u", "alice", "-P", "a-pass", "-t", "up/alice/1", "-m", "pub", "-q", "1", "-V", "mqttv311"]);
            await MosquittoClients.PublishAsync(broker, ["-u", "alice", "-P", "a-pass", "-t", "sensors/alice/t", "-m", "pubsub", "-q", "1", "-V", "mqttv311"]);
            var messages = await MosquittoClients.MessagesAsync(sub, 2);
            Assert.Equal([("up/alice/1", "pub"), ("sensors/alice/t", "pubsub")], messages.Select(m => (m.Topic, m.Payload)));
        }

        await using var lenient = await StartBrokerAsync(server, configure: o => o["acl_nomatch"] = "allow");
        Assert.Equal([0x01, 0x01], await Backends.SubackAsync(lenient, "alice", "a-pass", "cmd/alice", "admin/#"));
    }

    // RFC 4515: the user name goes into the filter escaped. Each of these, with alice's password, is an unknown user
    // (no password file: "not authorised"), never alice or "anyone"; a user whose uid really holds * ( ) \ logs in as
    // itself. (mosquitto_pub sends the user name as given; no shell is involved.)
    [Fact]
    public async Task Injection_FilterSyntaxInUserNamesIsOnlyText()
    {
        var server = await SharedServerAsync();
        await server.AddEntryAsync("alice", "secret");
        await server.AddEntryAsync(@"a*b(c)d\5c", "odd-pass");
        await using var broker = await StartBrokerAsync(server);

        foreach (var user in new[] { "*)(uid=*", "*", "alice)(|(uid=*", "al*", "*)(objectClass=*))(&(uid=alice", "alice\\29", "alice,ou=devices" })
            Assert.Equal("not authorised", await Backends.ConnectAsync(broker, user, "secret"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, @"a*b(c)d\5c", "odd-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, @"a*b(c)d\5c", "secret"));
    }

    // Two entries for one user name (in two branches under device_dn): neither is chosen. A failure, logged, judged by
    // on_error (deny: Server Unavailable), never "the first one found".
    [Fact]
    public async Task AmbiguousUserName_TwoEntries_RefusedAsAFailure()
    {
        var server = await SharedServerAsync();
        await server.AddEntryAsync("alice", "secret");
        await server.AddAsync($"""
            dn: ou=more,{SlapdServer.DevicesDn}
            objectClass: organizationalUnit
            ou: more

            dn: uid=alice,ou=more,{SlapdServer.DevicesDn}
            objectClass: mqttDevice
            objectClass: mqttSecurity
            objectClass: mqttUser
            uid: alice
            userPassword: secret
            """);
        await using var broker = await StartBrokerAsync(server);

        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        await broker.WaitForLogAsync(l => l.Contains("the user name is ambiguous", StringComparison.Ordinal), "the ambiguity logged");
    }

    // EMQX 4's auth.ldap.filters.N (terms joined left to right by op) and custom_base_dn with ${username_attr},
    // ${user} (escaped as a DN value) and ${device_dn}: the entry uid=<user>,ou=devices is the base of the search.
    [Fact]
    public async Task FiltersAndCustomBaseDn_EmqxStyle()
    {
        var server = await SharedServerAsync();
        await server.AddEntryAsync("alice", "secret");
        await server.AddAsync($"""
            dn: uid=bob,{SlapdServer.DevicesDn}
            objectClass: account
            objectClass: simpleSecurityObject
            uid: bob
            userPassword: b-pass
            """);
        await using var broker = await StartBrokerAsync(server, """
            auth.ldap.custom_base_dn = ${username_attr}=${user},${device_dn}
            auth.ldap.filters.1.key = objectClass
            auth.ldap.filters.1.value = mqttUser
            auth.ldap.filters.1.op = or
            auth.ldap.filters.2.key = objectClass
            auth.ldap.filters.2.value = account
            auth.ldap.filters.2.op = and
            auth.ldap.filters.3.key = ${username_attr}
            auth.ldap.filters.3.value = ${user}

            """);

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "bob", "b-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "bob", "secret"));
        foreach (var user in new[] { "*", "bob,ou=devices", "*)(uid=*" })
            Assert.Equal("not authorised", await Backends.ConnectAsync(broker, user, "b-pass"));
    }

    // bind_as_user: the server checks the password by a bind as the entry found; no userPassword comparison here. An
    // empty password (an unauthenticated bind, RFC 4513 §5.1.2) never passes.
    [Fact]
    public async Task BindAsUser_ServerChecksThePassword()
    {
        var server = await SharedServerAsync();
        await server.AddEntryAsync("alice", await SlapdServer.SlappasswdAsync("{SSHA}", "xyzzy-pw"), "isSuperuser: TRUE");
        await using var broker = await StartBrokerAsync(server, "auth.ldap.bind_as_user = true\n", o => o.Users.Add(("carol", "c-pass")));

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "xyzzy-pw"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "wrong"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", ""));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", null));
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass"));
        Assert.Equal([0x01], await Backends.SubackAsync(broker, "alice", "xyzzy-pw", "#")); // the entry's attributes still apply
        await broker.WaitForLogAsync(l => l.Contains("password checked by a bind as the entry", StringComparison.Ordinal), "the start logged");
        Assert.DoesNotContain("xyzzy", broker.Transcript, StringComparison.Ordinal);
    }

    // Fail closed. Down at start: Server Unavailable at once; up: accepted without a restart; killed: refused again
    // and the outage logged; back: accepted again and the recovery logged.
    [Fact]
    public async Task DownAtStart_ThenUp_ThenKilled_ThenBack_WithoutRestart()
    {
        await using var server = await SlapdServer.StartAsync();
        await server.AddEntryAsync("alice", "secret");
        await server.KillAsync();
        await using var broker = await StartBrokerAsync(server, "auth.ldap.timeout = 2s\n");

        var started = TimeProvider.System.GetTimestamp();
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(10), "refusals while the directory is down must not wait for it");

        await server.StartProcessAsync();
        await WaitUntilAsync(broker, "alice", "secret", "accepted");

        await server.KillAsync();
        await WaitUntilAsync(broker, "alice", "secret", "broker unavailable");
        await broker.WaitForLogAsync(l => l.Contains("LDAP is unreachable", StringComparison.Ordinal), "the outage logged");

        await server.StartProcessAsync();
        await WaitUntilAsync(broker, "alice", "secret", "accepted");
        await broker.WaitForLogAsync(l => l.Contains("LDAP is reachable again", StringComparison.Ordinal), "the recovery logged");
    }

    // on_error = ignore: while the directory is down the next source (the password file) decides.
    [Fact]
    public async Task OnErrorIgnore_DownDirectory_NextSourceDecides()
    {
        await using var server = await SlapdServer.StartAsync();
        await server.KillAsync();
        await using var broker = await StartBrokerAsync(server, "auth.ldap.on_error = ignore\n", o => o.Users.Add(("carol", "c-pass")));

        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "carol", "c-pass"));
        Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "secret"));
    }

    // cache_on_outage: while slapd is down a user seen before is still checked against its cached userPassword (right
    // in, wrong out). With bind_as_user the check is a bind, which needs the server: Server Unavailable, never "the
    // cache says yes".
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CacheOnOutage_StoredPasswordStillChecked_BindNeedsTheServer(bool bindAsUser)
    {
        await using var server = await SlapdServer.StartAsync();
        await server.AddEntryAsync("alice", await SlapdServer.SlappasswdAsync("{SSHA}", "secret"));
        await using var broker = await StartBrokerAsync(server, $"auth.ldap.cache_on_outage = 5m\nauth.ldap.bind_as_user = {(bindAsUser ? "on" : "off")}\n");
        Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret", clientId: "c1"));

        await server.KillAsync();

        Assert.Equal(bindAsUser ? "broker unavailable" : "accepted", await Backends.ConnectAsync(broker, "alice", "secret", clientId: "c1"));
        Assert.Equal(bindAsUser ? "broker unavailable" : "bad user name or password", await Backends.ConnectAsync(broker, "alice", "wrong", clientId: "c1"));
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "bob", "secret", clientId: "c2"));
    }

    // timeout against a slapd that accepts but does not answer (SIGSTOP): Server Unavailable once the timeout has
    // passed, well before it thaws; answered again after.
    [Fact]
    public async Task Timeout_HungSlapd_RefusedAtTheTimeout()
    {
        await using var server = await SlapdServer.StartAsync();
        await server.AddEntryAsync("alice", "secret");
        await using var broker = await StartBrokerAsync(server, "auth.ldap.timeout = 1s\n");
        await WaitUntilAsync(broker, "alice", "secret", "accepted");

        server.Freeze(true);
        var started = TimeProvider.System.GetTimestamp();
        Assert.Equal("broker unavailable", await Backends.ConnectAsync(broker, "alice", "secret"));
        Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(4.5));
        server.Freeze(false);
        await WaitUntilAsync(broker, "alice", "secret", "accepted");
    }

    // ldaps (TLS from the first byte) and StartTLS (RFC 4513 §3) against slapd with a certificate for 127.0.0.1: with
    // the CA that signed it, logins work; with another CA the certificate is refused and no LDAP is spoken: Server
    // Unavailable; ssl.verify = off accepts it (for testing only).
    [Theory]
    [InlineData("ldaps")]
    [InlineData("starttls")]
    public async Task Tls_VerifiedAgainstCacertfile_OtherCaRefused(string mode)
    {
        using var certificates = TestCertificates.Create();
        await using var server = await SlapdServer.StartAsync(certificates);
        await server.AddEntryAsync("alice", "secret");
        // 127.0.0.1, which the certificate names too: libldap checks "localhost" as the machine's own host name.
        string Conf(string ca, bool verify) => server.Conf
            .Replace($"port = {server.Port}", $"port = {(mode == "ldaps" ? server.TlsPort : server.Port)}", StringComparison.Ordinal)
            + (mode == "ldaps" ? "auth.ldap.ssl = on\n" : "auth.ldap.ssl.starttls = on\n")
            + $"auth.ldap.ssl.cacertfile = {ca}\nauth.ldap.ssl.verify = {(verify ? "on" : "off")}\nauth.ldap.timeout = 2s\n";

        await using (var broker = await StartBrokerAsync(server, configure: o => o.PluginConf["auth_ldap"] = Conf(certificates.CaFile, verify: true)))
        {
            Assert.Equal("accepted", await Backends.ConnectAsync(broker, "alice", "secret"));
            Assert.Equal("bad user name or password", await Backends.ConnectAsync(broker, "alice", "wrong"));
        }
        await using (var distrustful = await StartBrokerAsync(server, configure: o => o.PluginConf["auth_ldap"] = Conf(certificates.OtherCaFile, verify: true)))
            Assert.Equal("broker unavailable", await Backends.ConnectAsync(distrustful, "alice", "secret"));
        await using var trusting = await StartBrokerAsync(server, configure: o => o.PluginConf["auth_ldap"] = Conf(certificates.OtherCaFile, verify: false));
        Assert.Equal("accepted", await Backends.ConnectAsync(trusting, "alice", "secret"));
    }

    // As the other auth plugins: `ctl plugins reload auth_ldap` 20 times while 200 clients reconnect with the right
    // password, a loop tries a wrong one and 20 connections stay open (MQTT.js, 5.0): no right password refused, no
    // wrong one admitted, nothing dropped, no old instance left in memory.
    [Fact]
    public async Task Reload20Times_UnderConnectLoad_NoWrongAdmittedNoRightRefusedNothingDropped()
    {
        var server = await SharedServerAsync();
        await server.AddEntryAsync("alice", await SlapdServer.SlappasswdAsync("{SSHA}", "secret"));
        await Reload20TimesUnderConnectLoadAsync(server);
    }
}

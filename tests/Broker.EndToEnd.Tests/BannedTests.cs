using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// Issue 17 item 4, the banned list (EMQX's emqx_banned): bans added with <c>ctl banned</c> or <c>/api/v4/banned</c>
/// refuse real clients at CONNECT, disconnect matching clients connected now, expire, and survive a restart.
/// </summary>
public sealed class BannedTests
{
    /// <summary>CONNACK reason code 0x8A Banned, MQTT 5 section 3.2.2.2.</summary>
    private const int Banned = 0x8A;

    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    /// <summary>One CONNECT with this client id (and user name); the CONNACK's reason code. Closes the connection either way.</summary>
    private static async Task<byte> ConnackCodeAsync(BrokerProcess broker, string clientId, string? username = null, byte version = MqttBytes.V5)
    {
        await using var client = await RawMqttClient.ConnectAsync(broker);
        await client.SendAsync(MqttBytes.ConnectPacket(clientId, version, username: username));
        var connack = await client.ReceiveAsync(MqttBytes.Connack);
        return MqttBytes.ConnackCode(connack);
    }

    private static async Task<CtlResult> CtlAsync(BrokerProcess broker, params string[] arguments)
    {
        var result = await CtlRunner.RunAsync(broker, arguments);
        Assert.True(result.ExitCode == 0, result.Transcript);
        return result;
    }

    /// <summary>mosquitto_pub (MQTT 3.1.1) once; its exit code and what it printed.</summary>
    private static async Task<(int Code, string Transcript)> MosquittoPubAsync(BrokerProcess broker, string clientId)
    {
        await using var pub = MosquittoClients.StartPub(broker, ["-i", clientId, "-t", "banned/t", "-m", "x"]);
        var code = await pub.WaitForExitAsync(MosquittoClients.Timeout);
        return (code, pub.Transcript);
    }

    private static async Task<long> RefusedBannedAsync(BrokerProcess broker)
    {
        using var http = broker.CreateManagementClient();
        var answer = JsonDocument.Parse(await http.GetStringAsync("api/v4/metrics", TestContext.Current.CancellationToken)).RootElement;
        return answer.GetProperty("data")[0].GetProperty("metrics").GetProperty("client.connect.refused_banned").GetInt64();
    }

    [Fact]
    public async Task CtlBannedAdd_ClientId_RefusesRealClientsUntilCtlBannedDel()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var added = await CtlAsync(broker, "banned", "add", "--as", "clientid", "--who", "bad-device", "--reason", "flooding", "--duration", "1h");
        Assert.Contains("Banned clientid bad-device until", added.Stdout, StringComparison.Ordinal);

        // MQTT 3.1.1 has no Banned: return code 5, which mosquitto prints as "not authorised".
        var (code, transcript) = await MosquittoPubAsync(broker, "bad-device");
        Assert.True(code != 0, transcript);
        Assert.Contains("not authorised", transcript, StringComparison.Ordinal);
        await using (var sub = MosquittoClients.StartSub(broker, "-i", "bad-device", "-t", "banned/#"))
        {
            Assert.True(await sub.WaitForExitAsync(MosquittoClients.Timeout) != 0, sub.Transcript);
            Assert.Contains("not authorised", sub.Transcript, StringComparison.Ordinal);
        }
        // MQTT 5 (Eclipse Paho): CONNACK 0x8A Banned, section 3.2.2.2; 3.1.1: return code 5.
        var v5 = await Interop.ResultAsync(Interop.StartPaho("connect_once.py", broker, new { clientId = "bad-device", version = 5 }));
        Assert.Equal(Banned, v5.GetProperty("connack").GetInt32());
        var v3 = await Interop.ResultAsync(Interop.StartPaho("connect_once.py", broker, new { clientId = "bad-device", version = 4 }));
        Assert.Equal(5, v3.GetProperty("connack").GetInt32());
        // Another client id is not affected.
        Assert.Equal(0, await ConnackCodeAsync(broker, "good-device"));

        var list = await CtlAsync(broker, "banned", "list");
        Assert.Contains("bad-device", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("flooding", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 ban", list.Stdout, StringComparison.Ordinal);
        Assert.Equal(4, await RefusedBannedAsync(broker));
        await broker.WaitForLogAsync(l => l.Contains("Client bad-device", StringComparison.Ordinal) && l.Contains("banned as clientid", StringComparison.Ordinal), "the refusal logged");

        await CtlAsync(broker, "banned", "del", "--as", "clientid", "--who", "bad-device");
        Assert.Equal(0, await ConnackCodeAsync(broker, "bad-device"));
        var again = await CtlRunner.RunAsync(broker, "banned", "del", "--as", "clientid", "--who", "bad-device");
        Assert.True(again.ExitCode == 1, again.Transcript);
    }

    [Fact]
    public async Task ApiBan_ConnectedUsername_DisconnectsItsClientsOnly()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "mallory-sub", "-u", "mallory", "-t", "banned/#");
        await using var v5 = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("mallory-v5", MqttBytes.V5, username: "mallory"));
        await using var alice = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("alice-v5", MqttBytes.V5, username: "alice"));
        using var http = broker.CreateManagementClient();

        using var body = new StringContent("""{"who":"mallory","as":"username","reason":"abuse","by":"ops"}""", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("api/v4/banned", body, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);

        // 0x8A is a CONNACK code only (MQTT 5 section 3.14.2.1 lists the DISCONNECT codes): the operator's action is 0x98.
        var packets = await v5.WaitForCloseAsync();
        Assert.Equal(0x98, MqttBytes.ReasonCode(Assert.Single(packets, p => p.Type == MqttBytes.Disconnect)));
        // mosquitto_sub reconnects on its own and is refused: it stops, saying why.
        Assert.True(await sub.WaitForExitAsync(WaitLimit) != 0, sub.Transcript);
        Assert.Contains("not authorised", sub.Transcript, StringComparison.Ordinal);
        Assert.Equal(Banned, await ConnackCodeAsync(broker, "mallory-new", "mallory"));

        // alice is still connected and served.
        await alice.SendAsync(new byte[] { 0xC0, 0x00 });
        Assert.Equal(MqttBytes.Pingresp, (await alice.ReceiveAsync()).Type);
    }

    [Fact]
    public async Task CtlBannedAdd_ShortDuration_ExpiresAndTheClientGetsIn()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await CtlAsync(broker, "banned", "add", "--as", "clientid", "--who", "brief", "--duration", "5s");
        Assert.Equal(Banned, await ConnackCodeAsync(broker, "brief"));

        // Polled, not slept: the first accepted CONNECT ends the wait.
        var clock = Stopwatch.StartNew();
        while (await ConnackCodeAsync(broker, "brief") != 0)
        {
            Assert.True(clock.Elapsed < WaitLimit, "the 5 s ban still refuses after " + WaitLimit);
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        var list = await CtlAsync(broker, "banned", "list");
        Assert.Contains("0 bans", list.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ban_BrokerRestarted_StillRefuses_AndACorruptFileOnlyLogs()
    {
        var first = await BrokerProcess.StartAsync();
        await using var firstOwned = first;
        await CtlAsync(first, "banned", "add", "--as", "username", "--who", "kept", "--duration", "1h");

        await using var second = await first.RestartAsync();
        Assert.Equal(Banned, await ConnackCodeAsync(second, "any", "kept"));
        Assert.Contains("kept", (await CtlAsync(second, "banned", "list")).Stdout, StringComparison.Ordinal);

        // A damaged file is reported, naming it, and the broker serves without bans.
        var path = Path.Combine(second.HomeDirectory, "data", "banned");
        await File.WriteAllTextAsync(path, "{not json", TestContext.Current.CancellationToken);
        await using var third = await second.RestartAsync();
        await third.WaitForLogAsync(l => l.Contains(path, StringComparison.Ordinal) && l.Contains("cannot be read", StringComparison.Ordinal), "the corrupt file reported");
        Assert.Equal(0, await ConnackCodeAsync(third, "any", "kept"));
    }

    [Fact]
    public async Task CtlBannedAdd_Peerhost127001_RefusesLocalClients()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await CtlAsync(broker, "banned", "add", "--as", "peerhost", "--who", "127.0.0.1");

        Assert.Equal(Banned, await ConnackCodeAsync(broker, "local-v5"));
        Assert.Equal(5, await ConnackCodeAsync(broker, "local-v3", version: MqttBytes.V311));
        var (code, transcript) = await MosquittoPubAsync(broker, "local-pub");
        Assert.True(code != 0, transcript);
        Assert.Contains("not authorised", transcript, StringComparison.Ordinal);

        // The management API is not MQTT: ctl still works from the same address, and lifts the ban.
        await CtlAsync(broker, "banned", "del", "--as", "peerhost", "--who", "127.0.0.1");
        Assert.Equal(0, await ConnackCodeAsync(broker, "local-v5"));
    }
}

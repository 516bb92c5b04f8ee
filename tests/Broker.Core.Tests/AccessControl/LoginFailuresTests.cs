using System.Net;
using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.AccessControl;

/// <summary>
/// Issue 17 item 4: failed logins from one address or for one user name are held, then banned (login_failure.*).
/// </summary>
public sealed class LoginFailuresTests
{
    private static readonly IPAddress Guesser = IPAddress.Parse("192.0.2.7");

    private static TestBroker Broker(int delayAfter = 3, int banAfter = 6) => new((_, _, access, _) =>
    {
        access.AllowAnonymous = false;
        access.LoginFailureDelayAfter = delayAfter;
        access.LoginFailureMaxDelay = TimeSpan.FromMilliseconds(350);
        access.LoginFailureBanAfter = banAfter;
        access.LoginFailureWindow = TimeSpan.FromMinutes(1);
        access.LoginFailureBanTime = TimeSpan.FromMinutes(5);
    });

    private static void Fail(TestBroker broker, int times, IPAddress? address, string? user)
    {
        for (var i = 0; i < times; i++)
            broker.Engine.LoginFailures.Failed(address, user);
    }

    [Fact]
    public async Task DelayFor_AfterDelayAfterFailures_HoldsFrom100msDoublingUpToMaxDelay()
    {
        await using var broker = Broker(banAfter: 0);
        var failures = broker.Engine.LoginFailures;

        Fail(broker, 2, Guesser, null);
        Assert.Equal(TimeSpan.Zero, failures.DelayFor(Guesser, null));
        Fail(broker, 1, Guesser, null);
        Assert.Equal(TimeSpan.FromMilliseconds(100), failures.DelayFor(Guesser, null));
        Fail(broker, 1, Guesser, null);
        Assert.Equal(TimeSpan.FromMilliseconds(200), failures.DelayFor(Guesser, null));
        Fail(broker, 1, Guesser, null);
        Assert.Equal(TimeSpan.FromMilliseconds(350), failures.DelayFor(Guesser, null));
        // Another address is not held; the same address for any user is.
        Assert.Equal(TimeSpan.Zero, failures.DelayFor(IPAddress.Parse("192.0.2.8"), "alice"));
        Assert.Equal(TimeSpan.FromMilliseconds(350), failures.DelayFor(IPAddress.Parse("::ffff:192.0.2.7"), "alice"));
    }

    [Fact]
    public async Task DelayFor_FailuresForOneUserName_HoldThatNameFromAnyAddress_UntilTheWindowPasses()
    {
        await using var broker = Broker(banAfter: 0);
        var failures = broker.Engine.LoginFailures;

        Fail(broker, 3, null, "alice");

        Assert.Equal(TimeSpan.FromMilliseconds(100), failures.DelayFor(IPAddress.Parse("198.51.100.1"), "alice"));
        Assert.Equal(TimeSpan.Zero, failures.DelayFor(IPAddress.Parse("198.51.100.1"), "bob"));
        broker.Time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.Zero, failures.DelayFor(null, "alice"));
    }

    [Fact]
    public async Task Failed_AtBanAfter_BansTheAddressAndTheUserNameForBanTime()
    {
        await using var broker = Broker();

        Fail(broker, 5, Guesser, "alice");
        Assert.Null(broker.Engine.Banned.Find("any", "alice", Guesser));
        Fail(broker, 1, Guesser, "alice");

        var byAddress = broker.Engine.Banned.Find("any", null, Guesser);
        Assert.NotNull(byAddress);
        Assert.Equal(BanKind.Address, byAddress.As);
        Assert.Equal("login_failure", byAddress.By);
        Assert.Equal(broker.Time.GetUtcNow() + TimeSpan.FromMinutes(5), byAddress.Until);
        Assert.Equal(BanKind.Username, broker.Engine.Banned.Find("any", "alice", IPAddress.Loopback)?.As);
        Assert.Equal(2, broker.Engine.LoginFailures.Bans);
    }

    [Fact]
    public async Task Succeeded_ForgetsTheUserNamesFailuresButNotTheAddresss()
    {
        await using var broker = Broker(banAfter: 0);
        var failures = broker.Engine.LoginFailures;
        Fail(broker, 4, Guesser, "alice");

        failures.Succeeded("alice");

        Assert.Equal(TimeSpan.Zero, failures.DelayFor(null, "alice"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), failures.DelayFor(Guesser, null));
    }

    [Fact]
    public async Task Connect_WrongPasswords_AreCountedAndTheNextLoginIsHeldUntilTheDelayHasPassed()
    {
        await using var broker = Broker(delayAfter: 2, banAfter: 0);
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, ctx =>
        {
            ctx.Result = Encoding.UTF8.GetString(ctx.Password?.ToArray() ?? []) == "right" ? AuthenticationResult.Allow : AuthenticationResult.Deny;
            return ValueTask.FromResult(HookResult.Stop);
        });
        for (var i = 0; i < 2; i++)
            await broker.ConnectAsync("dev", configure: c => { c.Username = "dev"; c.Password = "wrong"u8.ToArray(); }, expect: MqttReasonCode.BadUserNameOrPassword);
        Assert.Equal(2, broker.Engine.LoginFailures.Failures);

        var held = broker.ConnectAsync("dev", configure: c => { c.Username = "dev"; c.Password = "right"u8.ToArray(); });
        // The fake clock stands still: the CONNACK waits for 100 ms of it.
        await broker.Time.WaitForTimerAsync(TimeSpan.FromMilliseconds(100)).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.False(held.IsCompleted);
        broker.Time.Advance(TimeSpan.FromMilliseconds(100));
        await held.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(1, broker.Engine.LoginFailures.Delayed);
        // The right password forgot the user name's failures (the address's remain).
        Assert.Equal(TimeSpan.FromMilliseconds(100), broker.Engine.LoginFailures.DelayFor(IPAddress.Loopback, null));
    }

    [Fact]
    public async Task Connect_AuthenticationHookFails_IsNotALoginFailure()
    {
        await using var broker = Broker(delayAfter: 1);
        broker.Engine.Hooks.Register(HookPoints.ClientAuthenticate, _ => throw new InvalidOperationException("backend down"));

        await broker.ConnectAsync("dev", configure: c => c.Username = "dev", expect: MqttReasonCode.BadUserNameOrPassword);

        Assert.Equal(0, broker.Engine.LoginFailures.Failures);
        Assert.Equal(TimeSpan.Zero, broker.Engine.LoginFailures.DelayFor(IPAddress.Loopback, "dev"));
    }
}

using System.Net.Sockets;
using Broker.EndToEnd.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Broker.EndToEnd.Tests.Dashboard;

/// <summary>
/// The dashboard plugin (issue 22) in a real browser (Debian's chromium through Playwright) against a real broker:
/// the default password changed before anything else, the overview following a real publisher, a mosquitto_sub client
/// found and kicked, plugins unloaded and loaded from the page with ctl agreeing, sign-in failures refused and
/// rate-limited, and the plugin's own unload stopping its listener with its load context collected.
/// </summary>
public sealed class DashboardTests(DashboardBrowserFixture fixture) : IClassFixture<DashboardBrowserFixture>
{
    [Fact]
    public async Task DefaultPassword_MustBeChangedFirst_ThenTheOverviewFollowsARealPublisher()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync();
        await using var _ = broker;
        await using var browser = fixture.Browser.ForOneTest();
        var page = await browser.NewPageAsync();

        await page.GotoAsync(url);
        await page.Locator("#signin-username").FillAsync("admin");
        await page.Locator("#signin-password").FillAsync("public");
        await page.Locator("#signin-submit").ClickAsync();
        await Expect(page.Locator("#change-form")).ToBeVisibleAsync();
        await Expect(page.Locator("#app")).ToBeHiddenAsync();
        // Signed in, but nothing else answers until the password is changed, whatever the page does.
        Assert.Equal(403, await page.EvaluateAsync<int>("fetch('/api/v4/stats').then(r => r.status)"));

        await page.Locator("#change-old").FillAsync("public");
        await page.Locator("#change-new").FillAsync("short");
        await page.Locator("#change-again").FillAsync("short");
        await page.Locator("#change-submit").ClickAsync();
        await Expect(page.Locator("#change-error")).ToContainTextAsync("at least 8 characters");
        await page.Locator("#change-new").FillAsync("dashboard-pass-1");
        await page.Locator("#change-again").FillAsync("dashboard-pass-1");
        await page.Locator("#change-submit").ClickAsync();
        await Expect(page.Locator("#app")).ToBeVisibleAsync();

        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "overview-sub", "-t", "overview/#");
        await Expect(page.Locator("[data-stat=connections]")).ToHaveTextAsync("1");
        var before = await page.Locator("[data-stat=messages-received]").TextContentAsync();
        await MosquittoClients.PublishAsync(broker, ["-t", "overview/t"], Enumerable.Range(0, 50).Select(i => $"m{i}"));
        await Expect(page.Locator("[data-stat=messages-received]")).Not.ToHaveTextAsync(before!);
        await Expect(page.Locator("[data-stat=subscriptions]")).ToHaveTextAsync("1");
        await DashboardBrowser.ScreenshotAsync(page, "overview");

        // The default password is gone; the new one works in a fresh browser.
        await page.Locator("#signout").ClickAsync();
        await Expect(page.Locator("#signin-form")).ToBeVisibleAsync();
        var again = await browser.NewPageAsync();
        await again.GotoAsync(url);
        await again.Locator("#signin-username").FillAsync("admin");
        await again.Locator("#signin-password").FillAsync("public");
        await again.Locator("#signin-submit").ClickAsync();
        await Expect(again.Locator("#signin-error")).ToContainTextAsync("wrong user name or password");
        await DashboardBrowser.SignInAsync(again, url, password: "dashboard-pass-1");
    }

    [Fact]
    public async Task Clients_FindAMosquittoSubscriber_SeeItsSubscription_AndKickIt()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync();
        await using var _ = broker;
        await using var browser = fixture.Browser.ForOneTest();
        var page = await browser.NewPageAsync();
        await DashboardBrowser.SignInAsync(page, url);
        await using var other = await MosquittoClients.SubscribeAsync(broker, "-i", "someone-else", "-t", "x/#");
        // mosquitto_sub runs with -d: it prints what it receives: the broker's DISCONNECT (MQTT 5: 0x98 Administrative action) when kicked.
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-V", "mqttv5", "-i", "dash-sub-1", "-t", "dash/#", "-q", "1");

        await page.GotoAsync(url + "/#/subscriptions");
        await page.Locator("#subscription-search").FillAsync("dash-sub-1");
        await Expect(page.Locator("main table")).ToContainTextAsync("dash/#");
        await page.GotoAsync(url + "/#/topics");
        await Expect(page.Locator("main table")).ToContainTextAsync("dash/#");
        // A search for one filter: its '#' reaches the API as part of the path, not as a fragment.
        await page.Locator("#topic-search").FillAsync("dash/#");
        await Expect(page.Locator("main table tbody tr")).ToHaveCountAsync(1);
        await Expect(page.Locator("main table tbody")).ToContainTextAsync("dash/#");

        await page.GotoAsync(url + "/#/clients");
        await page.Locator("#client-search").FillAsync("dash-sub");
        await Expect(page.Locator("tr[data-clientid]")).ToHaveCountAsync(1);
        await page.Locator("tr[data-clientid='dash-sub-1']").ClickAsync();
        await Expect(page.Locator("#client-details")).ToContainTextAsync("MQTT");
        await DashboardBrowser.ScreenshotAsync(page, "clients");
        await page.Locator("#kick").ClickAsync();
        await Expect(page.Locator("#toast")).ToContainTextAsync("dash-sub-1 kicked");

        await sub.WaitForLineAsync(l => l.Contains("Received DISCONNECT (152)", StringComparison.Ordinal), MosquittoClients.Timeout, "mosquitto_sub told it was kicked");
        await Expect(page.Locator("tr[data-clientid='dash-sub-1']")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Plugins_UnloadedAndLoadedFromThePage_CtlAgrees()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync(o => o.LoadedPlugins.Add("retainer"));
        await using var _ = broker;
        await using var browser = fixture.Browser.ForOneTest();
        var page = await browser.NewPageAsync();
        await DashboardBrowser.SignInAsync(page, url);

        await page.GotoAsync(url + "/#/plugins");
        var retainer = page.Locator("tr[data-plugin='retainer']");
        await Expect(retainer).ToContainTextAsync("running");
        await DashboardBrowser.ScreenshotAsync(page, "plugins");
        await retainer.Locator("button[data-action='unload']").ClickAsync();
        await Expect(page.Locator("#toast")).ToContainTextAsync("retainer: unloaded");
        await Expect(retainer.Locator("button[data-action='load']")).ToBeVisibleAsync();
        Assert.Matches(@"(?m)^retainer\s+\S+\s+stopped", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);

        await retainer.Locator("button[data-action='load']").ClickAsync();
        await Expect(retainer).ToContainTextAsync("running");
        Assert.Matches(@"(?m)^retainer\s+\S+\s+running", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);

        // Its configuration with file and line; a password masked.
        await page.Locator("tr[data-plugin='dashboard'] button[data-action='config']").ClickAsync();
        var config = page.Locator("#plugin-config");
        await Expect(config).ToContainTextAsync("dashboard.listener.http");
        await Expect(config).ToContainTextAsync("dashboard.conf:1");
        await Expect(config.Locator("tr", new() { HasText = "dashboard.default_user.password" })).ToContainTextAsync("******");

        await page.GotoAsync(url + "/#/listeners");
        await Expect(page.Locator("tr[data-listener='mqtt:tcp:external']")).ToContainTextAsync("running");
        await DashboardBrowser.ScreenshotAsync(page, "listeners");
    }

    [Fact]
    public async Task WrongPassword_Refused_ThenSignInsFromThatAddressRateLimited()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync(conf: "dashboard.sign_in.max_failures = 3\n");
        await using var _ = broker;
        await using var browser = fixture.Browser.ForOneTest();
        var page = await browser.NewPageAsync();
        await page.GotoAsync(url);

        async Task TryAsync(string password)
        {
            await page.Locator("#signin-username").FillAsync("admin");
            await page.Locator("#signin-password").FillAsync(password);
            await page.Locator("#signin-submit").ClickAsync();
        }
        for (var i = 0; i < 3; i++)
        {
            await page.Locator("#signin-error").EvaluateAsync("e => e.textContent = ''");
            await TryAsync("wrong-" + i);
            await Expect(page.Locator("#signin-error")).ToHaveTextAsync("wrong user name or password");
        }
        // The right password, but from an address that failed too often.
        await TryAsync("public");
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("too many sign-ins");
        await Expect(page.Locator("#change-form")).ToBeHiddenAsync();
        await broker.WaitForLogAsync(l => l.Contains("sign-ins from 127.0.0.1 refused", StringComparison.Ordinal), "the throttling logged");
    }

    [Fact]
    public async Task Unload_StopsTheListener_AndTheLoadContextIsCollected_LoadServesAgain()
    {
        // A fixed port: the same URL after the load.
        var (broker, url) = await DashboardBrowser.StartBrokerAsync(port: FreePorts.Next());
        await using var _ = broker;
        await using (var browser = fixture.Browser.ForOneTest())
        {
            var page = await browser.NewPageAsync();
            await DashboardBrowser.SignInAsync(page, url); // keeps a connection open across the unload
            var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "dashboard");
            Assert.True(unload.ExitCode == 0, unload.Transcript);
            await broker.WaitForLogAsync(l => l.Contains("Plugin dashboard unloaded", StringComparison.Ordinal), "the dashboard's code collected");
            Assert.DoesNotContain("is leaking", broker.Transcript, StringComparison.Ordinal);
        }
        var port = new Uri(url).Port;
        using (var probe = new TcpClient())
            await Assert.ThrowsAnyAsync<SocketException>(() => probe.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken).AsTask());

        var load = await CtlRunner.RunAsync(broker, "plugins", "load", "dashboard");
        Assert.True(load.ExitCode == 0, load.Transcript);
        await using var again = fixture.Browser.ForOneTest();
        var newPage = await again.NewPageAsync();
        // Users survive: the password set before the unload is the one asked for.
        await DashboardBrowser.SignInAsync(newPage, url, password: "dashboard-pass-1");
    }

    // ctl admins (EMQX 4's emqx_ctl admins) and the Users page manage the same users; a password set by ctl signs the
    // user's browsers out; without the plugin, ctl says to load it.
    [Fact]
    public async Task Users_ManagedWithCtlAndOnThePage()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync();
        await using var _ = broker;
        var list = await CtlRunner.RunAsync(broker, "admins", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        Assert.Matches(@"(?m)^admin\s+the default user\s+yes$", list.Stdout);
        var add = await CtlRunner.RunAsync(broker, "admins", "add", "ops", "ops-pass-123", "on call");
        Assert.True(add.ExitCode == 0, add.Transcript);
        Assert.Equal(1, (await CtlRunner.RunAsync(broker, "admins", "add", "ops", "another-pass")).ExitCode);
        Assert.Equal(1, (await CtlRunner.RunAsync(broker, "admins", "add", "shorty", "short")).ExitCode);

        await using var browser = fixture.Browser.ForOneTest();
        var page = await browser.NewPageAsync();
        await DashboardBrowser.SignInAsync(page, url, "ops", "ops-pass-123"); // not the default user: no forced change
        await page.GotoAsync(url + "/#/users");
        await page.Locator("#user-name").FillAsync("viewer");
        await page.Locator("#user-password").FillAsync("viewer-pass-1");
        await page.Locator("#user-description").FillAsync("added on the page");
        await page.Locator("#user-add").ClickAsync();
        await Expect(page.Locator("tr[data-user='viewer']")).ToContainTextAsync("added on the page");
        await DashboardBrowser.ScreenshotAsync(page, "users");
        Assert.Matches(@"(?m)^viewer\s+added on the page\s+no$", (await CtlRunner.RunAsync(broker, "admins", "list")).Stdout);

        // An application for the management API made on the Applications page: its secret works with the API at once.
        await page.GotoAsync(url + "/#/applications");
        await page.Locator("#app-id").FillAsync("monitoring");
        await page.Locator("#app-add").ClickAsync();
        var secret = await page.Locator("#app-secret-value").TextContentAsync();
        await Expect(page.Locator("tr[data-app='monitoring']")).ToContainTextAsync("yes");
        using (var api = new HttpClient { BaseAddress = broker.ManagementUrl })
        {
            api.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("monitoring:" + secret)));
            using var stats = await api.GetAsync("api/v4/stats", TestContext.Current.CancellationToken);
            Assert.Equal(System.Net.HttpStatusCode.OK, stats.StatusCode);
        }
        await DashboardBrowser.ScreenshotAsync(page, "applications");

        var passwd = await CtlRunner.RunAsync(broker, "admins", "passwd", "ops", "ops-pass-456");
        Assert.True(passwd.ExitCode == 0, passwd.Transcript);
        await page.GotoAsync(url + "/#/plugins"); // the next request of the signed-out browser
        await Expect(page.Locator("#signin-form")).ToBeVisibleAsync();
        await DashboardBrowser.SignInAsync(page, url, "ops", "ops-pass-456");

        var del = await CtlRunner.RunAsync(broker, "admins", "del", "viewer");
        Assert.True(del.ExitCode == 0, del.Transcript);
        Assert.DoesNotContain("viewer", (await CtlRunner.RunAsync(broker, "admins", "list")).Stdout, StringComparison.Ordinal);

        Assert.Equal(0, (await CtlRunner.RunAsync(broker, "plugins", "unload", "dashboard")).ExitCode);
        var without = await CtlRunner.RunAsync(broker, "admins", "list");
        Assert.Equal(1, without.ExitCode);
        Assert.Contains("the dashboard plugin is not loaded: ctl plugins load dashboard", without.Stderr, StringComparison.Ordinal);
    }

    // The WebSocket client page: MQTT.js in the browser to the broker's ws listener, both ways with mosquitto clients.
    [Fact]
    public async Task WebSocketPage_PublishesToMosquittoSub_AndShowsWhatMosquittoPubSends()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync(o => o["listener.ws.external"] = "127.0.0.1:0");
        await using var _ = broker;
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "ws/page", "-q", "1");
        await using var browser = fixture.Browser.ForOneTest();
        var page = await browser.NewPageAsync();
        await DashboardBrowser.SignInAsync(page, url);

        await page.GotoAsync(url + "/#/websocket");
        var wsPort = await broker.ListenerPortAsync("ws:external");
        await Expect(page.Locator("#ws-url")).ToHaveValueAsync($"ws://127.0.0.1:{wsPort}/mqtt");
        await page.Locator("#ws-connect").ClickAsync();
        await Expect(page.Locator("#ws-state")).ToContainTextAsync("connected as dashboard-");
        await page.Locator("#ws-sub-topic").FillAsync("ws/in");
        await page.Locator("#ws-subscribe").ClickAsync();
        await Expect(page.Locator("#toast")).ToContainTextAsync("subscribed to ws/in");

        await MosquittoClients.PublishAsync(broker, ["-t", "ws/in", "-m", "to the page", "-q", "1"]);
        await Expect(page.Locator("#ws-messages")).ToContainTextAsync("to the page");

        await page.Locator("#ws-pub-topic").FillAsync("ws/page");
        await page.Locator("#ws-payload").FillAsync("from the page");
        await page.Locator("#ws-publish").ClickAsync();
        var received = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal("from the page", received.Payload);
        await DashboardBrowser.ScreenshotAsync(page, "websocket");
    }

    // dashboard.listener.https with the test PKI: the session cookie is Secure there (and HttpOnly, SameSite=Strict);
    // on a phone-sized screen the pages fit the width; the first page is far under 300 KB on the wire.
    [Fact]
    public async Task Https_SecureCookie_PhoneSizedScreen_AndASmallFirstPage()
    {
        using var certs = TestCertificates.Create();
        var (broker, _) = await DashboardBrowser.StartBrokerAsync(conf:
            $"dashboard.listener.https = 127.0.0.1:0\ndashboard.listener.https.certfile = {certs.ServerCertFile}\ndashboard.listener.https.keyfile = {certs.ServerKeyFile}\n");
        await using var _ = broker;
        var line = await broker.WaitForLogAsync(l => l.Contains("Dashboard listening on https://", StringComparison.Ordinal), "the HTTPS listener");
        var url = line[line.IndexOf("https://", StringComparison.Ordinal)..].Trim();

        await using var browser = fixture.Browser.ForOneTest();
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            IgnoreHTTPSErrors = true, // the test CA is not chromium's
            ViewportSize = new ViewportSize { Width = 390, Height = 844 },
            IsMobile = true,
        });
        var page = await context.NewPageAsync();
        await DashboardBrowser.SignInAsync(page, url);
        var cookie = Assert.Single(await context.CookiesAsync(), c => c.Name == "broker_dashboard");
        Assert.True(cookie.Secure && cookie.HttpOnly && cookie.SameSite == SameSiteAttribute.Strict, $"{cookie.Secure} {cookie.HttpOnly} {cookie.SameSite}");

        foreach (var name in new[] { "overview", "clients", "plugins", "websocket" })
        {
            await page.GotoAsync($"{url}/#/{name}");
            await Expect(page.Locator("main h1")).ToBeVisibleAsync();
            Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth + 1"), $"{name} is wider than the screen");
        }
        await DashboardBrowser.ScreenshotAsync(page, "phone");

        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(url) };
        http.DefaultRequestHeaders.AcceptEncoding.ParseAdd("gzip");
        long transferred = 0;
        foreach (var asset in new[] { "/", "/app.css", "/app.js" })
            transferred += (await http.GetByteArrayAsync(asset, TestContext.Current.CancellationToken)).Length;
        Assert.InRange(transferred, 1, 300 * 1024);
    }

    // A reload serves the assets of the plugin's DLL as it is then: a copy whose index.html says something else (patched
    // in place, same length) put in the home's plugins/ is what the reloaded dashboard serves, sessions aside.
    [Fact]
    public async Task Reload_ServesTheAssetsOfTheNewDll()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync(port: FreePorts.Next());
        await using var _ = broker;
        await using var browser = fixture.Browser.ForOneTest();
        var page = await browser.NewPageAsync();
        await page.GotoAsync(url);
        Assert.Equal("Broker dashboard", await page.TitleAsync());

        var shipped = Path.Combine(AppContext.BaseDirectory, "plugins", "dashboard");
        broker.CopyIntoHome(shipped, "plugins/dashboard");
        var dll = Path.Combine(broker.HomeDirectory, "plugins", "dashboard", "Broker.Plugins.Dashboard.dll");
        var bytes = await File.ReadAllBytesAsync(dll, TestContext.Current.CancellationToken);
        var from = System.Text.Encoding.UTF8.GetBytes("<title>Broker dashboard</title>");
        var to = System.Text.Encoding.UTF8.GetBytes("<title>Broker DASHBOARD</title>");
        var at = bytes.AsSpan().IndexOf(from);
        Assert.True(at >= 0, "index.html's title is in the DLL's resources");
        to.CopyTo(bytes, at);
        await File.WriteAllBytesAsync(dll, bytes, TestContext.Current.CancellationToken);

        var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", "dashboard");
        Assert.True(reload.ExitCode == 0, reload.Transcript);
        await page.ReloadAsync();
        Assert.Equal("Broker DASHBOARD", await page.TitleAsync());
    }

    // A port another program listens on: the dashboard fails to start saying so, and the broker serves on.
    [Fact]
    public async Task PortOfAnotherProgram_DashboardFailsSayingSo_BrokerServesOn()
    {
        using var other = new TcpListener(System.Net.IPAddress.Loopback, 0);
        other.Start();
        var port = ((System.Net.IPEndPoint)other.LocalEndpoint).Port;
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.LoadedPlugins.Add("dashboard");
            o.PluginConf["dashboard"] = $"dashboard.listener.http = 127.0.0.1:{port}\n";
        });
        await broker.WaitForLogAsync(l => l.Contains($"127.0.0.1:{port} is already in use by another program", StringComparison.Ordinal), "the refusal");
        Assert.Matches(@"(?m)^dashboard\s+\S+\s+failed", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
        await MosquittoClients.PublishAsync(broker, ["-t", "still/serving", "-m", "x"]);
    }

    // Refused before anything else: a Host that is not an IP address, localhost or in dashboard.hosts (DNS rebinding),
    // a sign-in that is not JSON (a cross-site form could send it), a state change from another origin; and parallel
    // guesses are counted before they are checked: 20 at once with max_failures = 3 get three answers, seventeen 429s.
    [Fact]
    public async Task WrongHost_CrossSiteAndNonJsonRequests_AndParallelGuesses_AreRefused()
    {
        var (broker, url) = await DashboardBrowser.StartBrokerAsync(conf: "dashboard.hosts = console.example\ndashboard.sign_in.max_failures = 3\n");
        await using var _ = broker;
        using var http = new HttpClient { BaseAddress = new Uri(url) };
        var port = new Uri(url).Port;
        async Task<int> StatusAsync(HttpMethod method, string path, string? host = null, string? origin = null, string? json = null, string contentType = "application/json")
        {
            using var request = new HttpRequestMessage(method, path);
            if (host is not null)
                request.Headers.Host = $"{host}:{port}";
            if (origin is not null)
                request.Headers.Add("Origin", origin);
            if (json is not null)
                request.Content = new StringContent(json, System.Text.Encoding.UTF8, contentType);
            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            return (int)response.StatusCode;
        }

        Assert.Equal(421, await StatusAsync(HttpMethod.Get, "/", host: "rebound.example"));
        Assert.Equal(200, await StatusAsync(HttpMethod.Get, "/", host: "console.example"));
        Assert.Equal(200, await StatusAsync(HttpMethod.Get, "/", host: "localhost"));
        const string Guess = """{"username":"admin","password":"nope"}""";
        Assert.Equal(415, await StatusAsync(HttpMethod.Post, "/auth/login", json: Guess, contentType: "text/plain"));
        Assert.Equal(403, await StatusAsync(HttpMethod.Post, "/auth/login", origin: "http://evil.example", json: Guess));

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => StatusAsync(HttpMethod.Post, "/auth/login", json: Guess)));
        Assert.Equal(3, answers.Count(a => a == 401));
        Assert.Equal(17, answers.Count(a => a == 429));
    }
}

using System.Globalization;
using System.Text.RegularExpressions;
using Broker.EndToEnd.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Broker.EndToEnd.Tests.Dashboard;

/// <summary>
/// Debian's chromium driven by Playwright (through ExecutablePath: Playwright's own browser downloads are never used),
/// headless, one browser per test class (<see cref="DashboardBrowserFixture"/>), each test with its own browser contexts
/// (cookies, connections), closed when its <see cref="DashboardBrowser"/> is disposed; and a broker with the dashboard
/// on a free port.
/// </summary>
public sealed partial class DashboardBrowser : IAsyncDisposable
{
    private readonly IPlaywright? _playwright; // set when this object launched the browser and so closes it
    private readonly List<IBrowserContext> _contexts = [];

    private DashboardBrowser(IPlaywright? playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    public static async Task<DashboardBrowser> LaunchAsync()
    {
        var chromium = Tools.Require("chromium", "chromium");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox"], // root in CI
        });
        return new DashboardBrowser(playwright, browser);
    }

    /// <summary>The same browser for one test: disposing it closes the contexts the test opened, not the browser.</summary>
    public DashboardBrowser ForOneTest() => new(null, Browser);

    /// <summary>A fresh browser context (its own cookies and connections), closed with this object.</summary>
    public async Task<IBrowserContext> NewContextAsync(BrowserNewContextOptions options)
    {
        var context = await Browser.NewContextAsync(options);
        lock (_contexts)
            _contexts.Add(context);
        return context;
    }

    /// <summary>A page of a fresh browser context (its own cookies).</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        context.SetDefaultTimeout(15_000);
        var page = await context.NewPageAsync();
        // What the page's script says or throws goes into the test's output.
        page.Console += (_, message) => TestContext.Current.TestOutputHelper?.WriteLine($"browser console {message.Type}: {message.Text}");
        page.PageError += (_, error) => TestContext.Current.TestOutputHelper?.WriteLine($"browser page error: {error}");
        return page;
    }

    /// <summary>A broker with the dashboard at boot on a free loopback port; returns the dashboard's base URL too.</summary>
    public static async Task<(BrokerProcess Broker, string Url)> StartBrokerAsync(Action<BrokerOptions>? configure = null, string conf = "", int port = 0)
    {
        var broker = await BrokerProcess.StartAsync(o =>
        {
            o.LoadedPlugins.Add("dashboard");
            o.PluginConf["dashboard"] = $"dashboard.listener.http = 127.0.0.1:{port}\ndashboard.password_hash_iterations = 1000\n" +
                "dashboard.default_user.password = public\n" + conf;
            configure?.Invoke(o);
        });
        var line = await broker.WaitForLogAsync(l => l.Contains("Dashboard listening on http://", StringComparison.Ordinal), "the dashboard listening");
        var bound = int.Parse(ListeningPort().Match(line).Groups[1].Value, CultureInfo.InvariantCulture);
        return (broker, $"http://127.0.0.1:{bound}");
    }

    /// <summary>Signs in; with the default password, sets <paramref name="newPassword"/> as the dashboard demands first.</summary>
    public static async Task SignInAsync(IPage page, string url, string user = "admin", string password = "public", string? newPassword = "dashboard-pass-1")
    {
        await page.GotoAsync(url);
        await page.Locator("#signin-username").FillAsync(user);
        await page.Locator("#signin-password").FillAsync(password);
        await page.Locator("#signin-submit").ClickAsync();
        if (password == "public" && newPassword is not null)
        {
            await Assertions.Expect(page.Locator("#change-form")).ToBeVisibleAsync();
            await page.Locator("#change-old").FillAsync(password);
            await page.Locator("#change-new").FillAsync(newPassword);
            await page.Locator("#change-again").FillAsync(newPassword);
            await page.Locator("#change-submit").ClickAsync();
        }
        await Assertions.Expect(page.Locator("#app")).ToBeVisibleAsync();
    }

    /// <summary>
    /// Saves a screenshot of <paramref name="page"/> as <c>artifacts/screenshots/dashboard-&lt;name&gt;.png</c>, and as
    /// <c>docs/dashboard/&lt;name&gt;.png</c> (the README's pictures) when BROKER_UPDATE_SCREENSHOTS=1.
    /// </summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        var bytes = await page.ScreenshotAsync(new PageScreenshotOptions { FullPage = false });
        var artifacts = Path.Combine(Tools.RepoRoot, "artifacts", "screenshots");
        Directory.CreateDirectory(artifacts);
        await File.WriteAllBytesAsync(Path.Combine(artifacts, $"dashboard-{name}.png"), bytes);
        if (Environment.GetEnvironmentVariable("BROKER_UPDATE_SCREENSHOTS") == "1")
        {
            var docs = Path.Combine(Tools.RepoRoot, "docs", "dashboard");
            Directory.CreateDirectory(docs);
            await File.WriteAllBytesAsync(Path.Combine(docs, name + ".png"), bytes);
        }
    }

    public async ValueTask DisposeAsync()
    {
        IBrowserContext[] contexts;
        lock (_contexts)
            contexts = [.. _contexts];
        foreach (var context in contexts)
            await context.CloseAsync();
        if (_playwright is not null)
        {
            await Browser.DisposeAsync();
            _playwright.Dispose();
        }
    }

    [GeneratedRegex(@"Dashboard listening on http://[^:]+:(\d+)")]
    private static partial Regex ListeningPort();
}

/// <summary>
/// One chromium for the tests of a class: launching it (and Playwright's driver) took seconds per test. Each test takes
/// <see cref="DashboardBrowser.ForOneTest"/>, so cookies and connections are still its own.
/// </summary>
public sealed class DashboardBrowserFixture : IAsyncLifetime
{
    private DashboardBrowser? _browser;

    public DashboardBrowser Browser => _browser ?? throw new InvalidOperationException("the browser is not launched");

    public async ValueTask InitializeAsync() => _browser = await DashboardBrowser.LaunchAsync();

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
            await _browser.DisposeAsync();
    }
}

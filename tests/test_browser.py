"""End to end in headless Chromium: the demo page generates an anime head from the dropdowns and a bird from a caption;
the documentation site (tests/test_docs.py builds it; needs the docs extra) shows its pictures and finds a function
from its search box.

Needs Debian's chromium + chromium-driver and selenium (`.ci/run` installs them and sets DEEP_T2I_REQUIRE_BROWSER=1,
so in CI a missing browser fails this test instead of skipping it).
"""
import os, shutil, sys, threading
import pytest
from conftest import ROOT, make_tiny_model

CHROME, DRIVER = shutil.which('chromium') or '/usr/bin/chromium', shutil.which('chromedriver') or '/usr/bin/chromedriver'

def _need_browser():
    try: import selenium  # noqa: F401
    except ImportError: selenium = None
    if selenium is None or not (os.path.exists(CHROME) and os.path.exists(DRIVER)):
        if os.environ.get('DEEP_T2I_REQUIRE_BROWSER'): pytest.fail('chromium, chromedriver or selenium is missing')
        pytest.skip('no headless browser here (CI installs one)')

def test_demo_page_generates_an_image(tmp_path):
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from werkzeug.serving import make_server
    sys.path.insert(0, str(ROOT / 'server'))
    from app import create_app
    make_tiny_model(tmp_path / 'a'); make_tiny_model(tmp_path / 'b', 'birds', width=0.0625, min_ch=8)
    app = create_app({'anime': str(tmp_path / 'a'), 'birds': str(tmp_path / 'b')}, {'IMAGE_DIR': str(tmp_path / 'img')})
    srv = make_server('127.0.0.1', 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROME
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', f'--user-data-dir={tmp_path / "chrome"}'):
        opts.add_argument(a)
    os.environ.setdefault('SE_OFFLINE', 'true')
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        drv.get(f'http://127.0.0.1:{srv.server_port}/')
        Select(drv.find_element(By.ID, 'hair')).select_by_value('blue')
        Select(drv.find_element(By.ID, 'eyes')).select_by_value('red')
        drv.find_element(By.ID, 'anime-seed').send_keys('3')
        drv.find_element(By.ID, 'anime-go').click()
        img = drv.find_element(By.ID, 'anime-img')
        WebDriverWait(drv, 60).until(lambda d: d.execute_script('return arguments[0].complete && arguments[0].naturalWidth', img))
        assert drv.execute_script('return [arguments[0].naturalWidth, arguments[0].naturalHeight]', img) == [64, 64]
        assert '/images/' in img.get_attribute('src') and drv.find_element(By.ID, 'anime-msg').text == ''
        # an error is shown in the page, not swallowed
        drv.execute_script("document.getElementById('birds-cap').value = ''")
        drv.find_element(By.ID, 'birds-go').click()
        WebDriverWait(drv, 30).until(lambda d: d.find_element(By.ID, 'birds-msg').text)
        assert 'empty' in drv.find_element(By.ID, 'birds-msg').text
        # a caption: a 256x256 bird, and the error line is cleared
        drv.execute_script("document.getElementById('birds-cap').value = 'a small bird with a red crown and blue wings'")
        drv.find_element(By.ID, 'birds-go').click()
        bimg = drv.find_element(By.ID, 'birds-img')
        WebDriverWait(drv, 60).until(lambda d: d.execute_script('return !arguments[0].hidden && arguments[0].complete && arguments[0].naturalWidth', bimg))
        assert drv.execute_script('return [arguments[0].naturalWidth, arguments[0].naturalHeight]', bimg) == [256, 256]
        assert drv.find_element(By.ID, 'birds-msg').text == ''
    finally:
        drv.quit(); srv.shutdown()

def _chrome(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROME
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--window-size=1300,1000', f'--user-data-dir={tmp_path / "chrome-docs"}'):
        opts.add_argument(a)
    os.environ.setdefault('SE_OFFLINE', 'true')
    return webdriver.Chrome(service=Service(DRIVER), options=opts)

def test_docs_site_shows_pictures_and_search_box(docs_site, tmp_path):
    "The built site over HTTP on 127.0.0.1: the front page's sample grids load, and its search box finds `load_model` on the inference notebook's page."
    out, r = docs_site
    assert r.returncode == 0, r.stderr[-3000:]
    _need_browser()
    import functools
    from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    drv = _chrome(tmp_path)
    try:
        drv.get(f'http://127.0.0.1:{srv.server_port}/')                    # the root redirects to docs/index.html
        grid_imgs = lambda d: [i for i in d.find_elements(By.CSS_SELECTOR, 'article img') if 'grid' in (i.get_attribute('src') or '')]
        WebDriverWait(drv, 30).until(lambda d: d.current_url.endswith('/docs/index.html') and d.execute_script('return document.readyState') == 'complete'
                                     and len(grid_imgs(d)) == 2)
        grids = grid_imgs(drv)
        WebDriverWait(drv, 30).until(lambda d: all(d.execute_script('return arguments[0].complete && arguments[0].naturalWidth', i) for i in grids))
        assert all(drv.execute_script('return arguments[0].naturalWidth', i) > 200 and i.is_displayed() for i in grids)
        box = next(b for b in drv.find_elements(By.CSS_SELECTOR, 'input[name="q"]') if b.is_displayed())
        box.send_keys('load_model', Keys.ENTER)
        WebDriverWait(drv, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, '#search-results a[href*="05_inference"]'))
        assert '/search.html' in drv.current_url
    finally:
        drv.quit(); srv.shutdown()

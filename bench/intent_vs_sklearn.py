#!/usr/bin/env python3
"""Switchboard's intent classifier against scikit-learn's TF-IDF + LinearSVC on the same data.

Both train on TRAIN and are scored on EVAL (CSV files with `text,category` columns; for CLINC150
pass --clinc FILE to use its `train`/`oos_train` and `val`/`oos_val` lists). Prints one JSON line
with both accuracies, both training times and the ratios.

    pip install scikit-learn
    python3 bench/intent_vs_sklearn.py --train train.csv --eval dev.csv [--switchboard target/release/switchboard]

scikit-learn's pipeline is the reference named in issue 4: word 1–2-gram and char_wb 2–5-gram
TF-IDF (sublinear tf), concatenated, LinearSVC(C=1).
"""
import argparse, csv, json, os, subprocess, sys, tempfile, time

def read_csv(path):
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    return [r['text'] for r in rows], [r['category'] for r in rows]

def sklearn_run(train_x, train_y, eval_x, eval_y):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union
    from sklearn.svm import LinearSVC
    started = time.perf_counter()
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer='char_wb', ngram_range=(2, 5), sublinear_tf=True),
    )
    x = features.fit_transform(train_x)
    model = LinearSVC(C=1.0).fit(x, train_y)
    seconds = time.perf_counter() - started
    predicted = model.predict(features.transform(eval_x))
    accuracy = sum(p == g for p, g in zip(predicted, eval_y)) / len(eval_y)
    return accuracy, seconds, x.shape[1]

def switchboard_run(binary, train_path, eval_path, fmt):
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, 'm.model')
        out = subprocess.run([binary, 'model', 'train', '--data', train_path, '--out', model,
                              '--format', fmt], check=True, capture_output=True, text=True)
        trained = json.loads(out.stdout.strip().splitlines()[-1])
        out = subprocess.run([binary, 'model', 'eval', '--model', model, '--data', eval_path,
                              '--format', fmt], check=True, capture_output=True, text=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
    accuracy = report.get('in_scope_accuracy', report['accuracy'])
    return accuracy, trained['train_seconds'], trained['features'], report

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--train')
    ap.add_argument('--eval')
    ap.add_argument('--clinc', help='CLINC150 JSON: train on train, evaluate in-scope val')
    ap.add_argument('--switchboard', default='target/release/switchboard')
    a = ap.parse_args()
    if a.clinc:
        data = json.load(open(a.clinc))
        tx, ty = zip(*data['train'])
        ex, ey = zip(*data['val'])
        with tempfile.TemporaryDirectory() as d:
            tr, ev = os.path.join(d, 'train.csv'), os.path.join(d, 'eval.csv')
            for path, xs, ys in ((tr, tx, ty), (ev, ex, ey)):
                with open(path, 'w', newline='', encoding='utf-8') as f:
                    w = csv.writer(f); w.writerow(['text', 'category']); w.writerows(zip(xs, ys))
            sk = sklearn_run(list(tx), list(ty), list(ex), list(ey))
            sb = switchboard_run(a.switchboard, tr, ev, 'csv')
    else:
        tx, ty = read_csv(a.train)
        ex, ey = read_csv(a.eval)
        sk = sklearn_run(tx, ty, ex, ey)
        sb = switchboard_run(a.switchboard, a.train, a.eval, 'csv')
    print(json.dumps({
        'sklearn': {'accuracy': round(sk[0], 4), 'train_seconds': round(sk[1], 2), 'features': sk[2]},
        'switchboard': {'accuracy': round(sb[0], 4), 'train_seconds': round(sb[1], 2), 'features': sb[2]},
        'accuracy_ratio': round(sb[0] / sk[0], 4),
        'train_time_ratio': round(sb[1] / sk[1], 3),
    }))

if __name__ == '__main__':
    main()
